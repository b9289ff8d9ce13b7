"""OpenID Connect providers to sign in with: the registry built at start-up from the
OIDC_* settings (config.OIDCClient), each provider's endpoints and keys' address from
its discovery document, fetched once and checked with Authlib.

A provider whose discovery fails is logged and left out, so one provider being down
(or misconfigured) never stops the site starting or the others working; with none
configured the registry is empty and nothing of OpenID Connect shows."""

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oidc.discovery import OpenIDProviderMetadata, get_well_known_url

from config import OIDCClient

logger = logging.getLogger("inkwell")

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
