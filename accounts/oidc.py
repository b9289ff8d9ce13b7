"""OpenID Connect providers to sign in with: the registry built at start-up from the
OIDC_* settings (config.OIDCClient), each provider's endpoints and keys' address from
its discovery document, fetched once and checked with Authlib.

A provider whose discovery fails is logged and left out, so one provider being down
(or misconfigured) never stops the site starting or the others working; with none
configured the registry is empty and nothing of OpenID Connect shows."""

import asyncio
import base64
import json
import logging
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2 import OAuth2Error
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url
from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response, status
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from accounts.sessions import cookie_is_secure
from config import OIDCClient, get_settings
from errors.domain import DomainError

logger = logging.getLogger("inkwell")


def _client_http_errors() -> tuple[type[Exception], ...]:
    """What a request through Authlib's client raises when the provider cannot be
    reached or answers nonsense: the errors of the HTTP library it runs on, which is
    httpx2 where that is installed (fastapi[standard] brings it), not httpx. Catching
    httpx's alone made a provider that is down a 500."""
    try:
        import httpx2
    except ImportError:  # pragma: no cover (Authlib falls back to httpx)
        return (httpx.HTTPError,)
    return (httpx.HTTPError, httpx2.HTTPError)


CLIENT_HTTP_ERRORS = _client_http_errors()

# A provider that has not answered its discovery document by then is left out: start-up
# waits at most this long for all of them (they are asked at once).
DISCOVERY_TIMEOUT_SECONDS = 5.0


class DiscoveryError(Exception):
    """A provider's discovery document could not be fetched or is not valid."""


@dataclass(frozen=True)
class OIDCProvider:
    """One provider ready to sign in with: its registration and its discovered metadata."""

    client: OIDCClient
    metadata: dict[str, Any]
    # The provider's public keys (a joserfc KeySet) and when they were fetched.
    keys: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def label(self) -> str:
        return self.client.display_label

    @property
    def issuer(self) -> str:
        return self.client.issuer_url

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def jwks_uri(self) -> str:
        return str(self.metadata["jwks_uri"])


class OIDCRegistry:
    """The providers that can be signed in with, by name, in OIDC_PROVIDERS' order."""

    def __init__(self, providers: Sequence[OIDCProvider] = ()) -> None:
        self._providers = {provider.name: provider for provider in providers}

    def get(self, name: str) -> OIDCProvider | None:
        return self._providers.get(name)

    def __iter__(self) -> Iterator[OIDCProvider]:
        return iter(self._providers.values())

    def __len__(self) -> int:
        return len(self._providers)

    def __bool__(self) -> bool:
        return bool(self._providers)


def checked_metadata(client: OIDCClient, document: object) -> dict[str, Any]:
    """`document` as a provider's metadata, if OpenID Connect Discovery's rules hold
    (Authlib's checks) and it is the configured issuer's own: its `issuer` must be the
    configured one exactly, or ID tokens would be checked against someone else's."""
    if not isinstance(document, dict):
        raise DiscoveryError("the discovery document is not a JSON object")
    metadata = OpenIDProviderMetadata(document)
    try:
        metadata.validate()
    except ValueError as error:
        raise DiscoveryError(f"the discovery document is not valid: {error}") from error
    if metadata.get("issuer") != client.issuer_url:
        raise DiscoveryError(
            f"the discovery document's issuer is {metadata.get('issuer')!r}, "
            f"not {client.issuer_url!r}"
        )
    if "code" not in metadata.get("response_types_supported", []):
        raise DiscoveryError("the provider does not offer the authorization code flow")
    return dict(metadata)


async def discover(http: httpx.AsyncClient, client: OIDCClient) -> OIDCProvider:
    url = get_well_known_url(client.issuer_url, external=True)
    try:
        answer = await http.get(url)
        answer.raise_for_status()
        document = answer.json()
    except (httpx.HTTPError, ValueError) as error:
        raise DiscoveryError(f"{url}: {error}") from error
    return OIDCProvider(client=client, metadata=checked_metadata(client, document))


async def load_registry(clients: Sequence[OIDCClient]) -> OIDCRegistry:
    """The registry of `clients` whose discovery succeeds (all asked at once); each
    one that fails is logged (never its secret) and left out."""
    if not clients:
        return OIDCRegistry()
    async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT_SECONDS, follow_redirects=False) as http:
        results = await asyncio.gather(
            *(discover(http, client) for client in clients), return_exceptions=True
        )
    providers = []
    for client, result in zip(clients, results, strict=True):
        if isinstance(result, OIDCProvider):
            providers.append(result)
            logger.info("OpenID Connect provider %r: %s", client.name, client.issuer_url)
        elif isinstance(result, Exception):
            logger.error(
                "OpenID Connect provider %r left out: discovery failed: %s", client.name, result
            )
        else:
            raise result
    return OIDCRegistry(providers)


# --- The authorization request (GET /auth/oidc/{name}/start) --------------------------

# What Inkwell asks every provider for: who the person is, their email and a name.
SCOPE = "openid email profile"
# The cookie that binds a sign-in under way to this browser: sealed (Fernet, under a key
# derived for it alone), HttpOnly, SameSite=Lax (the provider's redirect back is a
# cross-site top-level navigation, which Strict would strip it from), for
# /auth/oidc/ only, and short-lived. One at a time: starting again replaces it.
FLOW_COOKIE = "inkwell_oidc"
FLOW_COOKIE_PATH = "/auth/oidc/"
FLOW_SECONDS = 10 * 60
# Set (readable by scripts, holding no secret) on the page a provider's sign-in lands
# on: auth.js then trades the refresh cookie for its access token, and clears it.
SIGNED_IN_COOKIE = "inkwell_signed_in"
# A `next` longer than this is not kept (a cookie holds about 4 KB in all).
MAX_NEXT_LENGTH = 1000
# Anything a browser could read as another site: control characters (dropped inside
# URLs, so "/\t/evil" becomes "//evil") and backslashes (read as "/").
UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f\\]")


class FlowPurpose(StrEnum):
    SIGN_IN = "sign_in"
    LINK = "link"
    REAUTHENTICATE = "reauthenticate"


@dataclass(frozen=True)
class SignInFlow:
    """One sign-in under way, as the flow cookie keeps it until the callback."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    next: str
    # What the provider's answer is for: signing someone in, or, for the account and
    # session that started the flow through the API with its token (both must still be
    # live when the provider answers), linking the provider or reauthenticating.
    purpose: FlowPurpose = FlowPurpose.SIGN_IN
    user_id: int = 0
    session_id: str = ""
    # A reauthentication on an account with 2FA: the second factor ("totp" or
    # "recovery_code") already proven when the flow started; the provider adds the other.
    second_factor: str = ""


def provider_unknown() -> DomainError:
    return DomainError(
        status.HTTP_404_NOT_FOUND, "oidc_provider_unknown", "There is no such way to sign in."
    )


def provider_named(registry: OIDCRegistry, name: str) -> OIDCProvider:
    provider = registry.get(name)
    if provider is None:
        raise provider_unknown()
    return provider


def safe_next(value: str | None) -> str:
    """`value` if it is a path of this site, else "/": the rules of static/js/navigation.js's
    safeNext, so the place a sign-in ends is never another site's."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return "/"
    if value.startswith("//") or UNSAFE_IN_NEXT.search(value):
        return "/"
    return value


def _flow_cipher() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(get_settings().derived_key("oidc sign-in flow")))


def seal_flow(flow: SignInFlow) -> str:
    fields = [
        flow.provider,
        flow.state,
        flow.nonce,
        flow.code_verifier,
        flow.next,
        flow.purpose.value,
        flow.second_factor,
        flow.user_id,
        flow.session_id,
    ]
    return _flow_cipher().encrypt(json.dumps(fields).encode()).decode()


def unseal_flow(sealed: str | None) -> SignInFlow | None:
    """The flow in a flow cookie, or None if it is missing, forged, of another key or
    older than FLOW_SECONDS."""
    if not sealed:
        return None
    try:
        fields = json.loads(_flow_cipher().decrypt(sealed.encode(), ttl=FLOW_SECONDS))
    except (InvalidToken, ValueError):
        return None
    if not (isinstance(fields, list) and len(fields) == 9):
        return None
    *texts, user_id, session_id = fields
    if not all(isinstance(field, str) for field in texts) or not isinstance(session_id, str):
        return None
    provider, state, nonce, verifier, next_path, purpose, second_factor = texts
    if type(user_id) is not int or purpose not in set(FlowPurpose):
        return None
    return SignInFlow(
        provider,
        state,
        nonce,
        verifier,
        next_path,
        purpose=FlowPurpose(purpose),
        user_id=user_id,
        session_id=session_id,
        second_factor=second_factor,
    )


def redirect_uri(request: Request, name: str) -> str:
    """Where the provider sends the browser back: under PUBLIC_URL when it is set, else
    the address this request came to (the provider only sends back to the addresses
    registered with it, so a forged Host leads nowhere)."""
    base = get_settings().public_url or request.base_url
    return f"{str(base).rstrip('/')}/auth/oidc/{name}/callback"


def set_flow_cookie(request: Request, response: Response, flow: SignInFlow) -> None:
    response.set_cookie(
        FLOW_COOKIE,
        seal_flow(flow),
        max_age=FLOW_SECONDS,
        path=FLOW_COOKIE_PATH,
        secure=cookie_is_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_flow_cookie(request: Request, response: Response) -> None:
    """The flow is over, however it ended: its `state` can never be presented again."""
    response.delete_cookie(
        FLOW_COOKIE,
        path=FLOW_COOKIE_PATH,
        secure=cookie_is_secure(request),
        httponly=True,
        samesite="lax",
    )


def begin_sign_in(
    provider: OIDCProvider,
    *,
    redirect_uri: str,
    next_path: str | None,
    purpose: FlowPurpose = FlowPurpose.SIGN_IN,
    user_id: int = 0,
    session_id: str = "",
    second_factor: str = "",
) -> tuple[str, SignInFlow]:
    """The provider's authorization URL for a new sign-in (the code flow, PKCE with
    S256, a fresh random `state` and `nonce`; Authlib builds it), and the flow to keep in
    this browser's cookie until the provider sends it back. A link or reauthentication
    names the signed-in account (`user_id`) and session (`session_id`) it is for."""
    flow = SignInFlow(
        provider=provider.name,
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=generate_token(64),
        next=safe_next(next_path),
        purpose=purpose,
        user_id=user_id,
        session_id=session_id,
        second_factor=second_factor,
    )
    client = AsyncOAuth2Client(
        client_id=provider.client.client_id,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    # Confirming it is you must be done at the provider now, not answered by a session
    # the browser still has there (OpenID Connect Core 3.1.2.1, prompt=login).
    fresh = {"prompt": "login"} if purpose == FlowPurpose.REAUTHENTICATE else {}
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint,
        state=flow.state,
        nonce=flow.nonce,
        code_verifier=flow.code_verifier,
        **fresh,
    )
    return str(url), flow


def start_flow(
    request: Request,
    response: Response,
    provider: OIDCProvider,
    *,
    next_path: str | None,
    purpose: FlowPurpose = FlowPurpose.SIGN_IN,
    user_id: int = 0,
    session_id: str = "",
    second_factor: str = "",
) -> str:
    """`begin_sign_in` for this request, its flow set in this browser's cookie on
    `response` (which no cache may keep): the provider's authorization URL."""
    url, flow = begin_sign_in(
        provider,
        redirect_uri=redirect_uri(request, provider.name),
        next_path=next_path,
        purpose=purpose,
        user_id=user_id,
        session_id=session_id,
        second_factor=second_factor,
    )
    set_flow_cookie(request, response, flow)
    response.headers["Cache-Control"] = "no-store"
    return url


# --- The way back: the code exchanged, the ID token verified --------------------------

# Signatures an ID token may have: the provider's public keys only, never "none" or a
# MAC under the client secret.
ID_TOKEN_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
]
# Clock difference allowed between the provider and this server.
CLOCK_LEEWAY_SECONDS = 60
# The provider's keys are fetched again for an unknown `kid` (keys are rotated), at
# most this often, so forged tokens cannot make Inkwell ask it over and over.
KEYS_REFRESH_SECONDS = 30.0


def _refused(code: str, detail: str) -> DomainError:
    return DomainError(status.HTTP_400_BAD_REQUEST, code, detail)


def exchange_refused() -> DomainError:
    return _refused(
        "oidc_exchange_failed", "The provider did not confirm the sign-in. Please try again."
    )


def token_refused() -> DomainError:
    return _refused(
        "oidc_id_token_invalid", "The provider's answer could not be verified. Please try again."
    )


async def exchange_code(
    provider: OIDCProvider, *, code: str, redirect_uri: str, code_verifier: str
) -> str:
    """The ID token the provider gives for `code` (Authlib's exchange at the token
    endpoint, authenticated with the client secret, with the PKCE verifier)."""
    client = AsyncOAuth2Client(
        client_id=provider.client.client_id,
        client_secret=provider.client.client_secret.get_secret_value(),
        redirect_uri=redirect_uri,
        timeout=DISCOVERY_TIMEOUT_SECONDS,
    )
    try:
        async with client:
            token = await client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=code_verifier
            )
    except (OAuthError, OAuth2Error, *CLIENT_HTTP_ERRORS, ValueError, KeyError) as error:
        logger.warning("OpenID Connect %r: code exchange failed: %s", provider.name, error)
        raise exchange_refused() from error
    id_token = token.get("id_token") if isinstance(token, dict) else None
    if not isinstance(id_token, str):
        raise exchange_refused()
    return id_token


async def _provider_keys(provider: OIDCProvider, *, refresh: bool) -> KeySet:
    cached = provider.keys.get("set")
    fetched_at = provider.keys.get("at", 0.0)
    now = time.monotonic()
    if cached is not None and not (refresh and now - fetched_at > KEYS_REFRESH_SECONDS):
        return cached  # type: ignore[no-any-return]
    try:
        async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT_SECONDS) as http:
            answer = await http.get(provider.jwks_uri)
            answer.raise_for_status()
            keys = KeySet.import_key_set(answer.json())
    except (httpx.HTTPError, ValueError, JoseError) as error:
        logger.warning("OpenID Connect %r: its keys could not be fetched: %s", provider.name, error)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        raise token_refused() from error
    provider.keys.update({"set": keys, "at": now})
    return keys


def _key_id(id_token: str) -> str | None:
    try:
        header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    except (ValueError, IndexError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


async def verify_id_token(provider: OIDCProvider, id_token: str, *, nonce: str) -> dict[str, Any]:
    """The claims of `id_token` once verified (OpenID Connect Core 3.1.3.7): signed by
    one of the provider's keys (fetched again for an unknown `kid`), `iss` this
    provider's, `aud` this client (and `azp` too when there are several), not expired,
    and the `nonce` of this browser's flow."""
    keys = await _provider_keys(provider, refresh=False)
    kid = _key_id(id_token)
    if kid is not None and all(key.kid != kid for key in keys):
        keys = await _provider_keys(provider, refresh=True)
    try:
        token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": provider.client.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(token.claims)
    except (JoseError, ValueError) as error:
        logger.warning("OpenID Connect %r: ID token refused: %s", provider.name, error)
        raise token_refused() from error
    claims = dict(token.claims)
    audience = claims["aud"]
    several = isinstance(audience, list) and len(audience) > 1
    if several and claims.get("azp") != provider.client.client_id:
        raise token_refused()
    return claims
