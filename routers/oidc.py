"""Signing in through an OpenID Connect provider (accounts/oidc.py, accounts/identities.py):
the browser's way there and back. Pages, not API: every refusal is a page that says
what happened and how to try again, with no session started."""

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from accounts import identities, mfa
from accounts.oidc import (
    FLOW_COOKIE,
    SIGNED_IN_COOKIE,
    FlowPurpose,
    OIDCProvider,
    OIDCRegistry,
    SignInFlow,
    clear_flow_cookie,
    exchange_code,
    provider_named,
    provider_unknown,
    redirect_uri,
    start_flow,
    unseal_flow,
    verify_id_token,
)
from accounts.security_log import provider_method
from accounts.sessions import cookie_is_secure
from database import SessionDep
from errors.domain import DomainError
from web.signin import account_suspended, sign_in
from web.templating import render

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)

# What a callback's query may hold, at most (a provider's code, state and error are
# far shorter): anything longer is refused before it is compared or sent anywhere.
QUERY_VALUE_MAX = 2000
# The seconds the "just signed in" mark lives: auth.js reads it on the next page.
SIGNED_IN_MARK_SECONDS = 120


@router.get("/{name}/start")
async def start(
    request: Request,
    name: str,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> RedirectResponse:
    """To the provider's sign-in, with this browser's flow in a short-lived cookie."""
    provider = provider_named(request.state.oidc_providers, name)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Location"] = start_flow(request, response, provider, next_path=next_path)
    return response


def _state_invalid() -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "oidc_state_invalid",
        "This sign-in expired, was already used, or was started in another browser, so "
        "nobody was signed in. Please start again.",
    )


def _provider_error(label: str, error: str) -> DomainError:
    if error == "access_denied":
        return DomainError(
            status.HTTP_400_BAD_REQUEST,
            "oidc_access_denied",
            f"Signing in with {label} was cancelled, so nobody was signed in. You can "
            f"try again, or log in another way.",
        )
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "oidc_provider_error",
        f"{label} could not sign you in, so nobody was signed in. Please try again.",
    )


def _query_value(request: Request, key: str) -> str:
    value = request.query_params.get(key, "")
    return value if len(value) <= QUERY_VALUE_MAX else ""


async def _verified_account(
    request: Request, provider: OIDCProvider, flow: SignInFlow
) -> identities.ProviderAccount:
    """The provider's answer in this request's query, checked: `state` is this
    browser's flow's, the code exchanged (with the flow's PKCE verifier), the ID token
    verified (with the flow's nonce)."""
    state = _query_value(request, "state")
    if not state or not secrets.compare_digest(state.encode(), flow.state.encode()):
        raise _state_invalid()
    error = _query_value(request, "error")
    if error:
        raise _provider_error(provider.label, error)
    code = _query_value(request, "code")
    if not code:
        raise _provider_error(provider.label, "no code")
    id_token = await exchange_code(
        provider,
        code=code,
        redirect_uri=redirect_uri(request, provider.name),
        code_verifier=flow.code_verifier,
    )
    claims = await verify_id_token(provider, id_token, nonce=flow.nonce)
    return identities.provider_account(provider.name, claims)


@router.get("/{name}/callback")
async def callback(request: Request, name: str, session: SessionDep) -> Response:
    """Where the provider sends the browser back. The flow cookie is spent whatever
    happens, so the same answer never works twice. Then, by accounts/identities.py's
    rules: link the provider or reauthenticate the session that started the flow, or
    sign the account in (a redirect to
    `next` with the refresh cookie; auth.js gets its access token there), or ask an
    account with 2FA for its code, or explain why not."""
    flow = unseal_flow(request.cookies.get(FLOW_COOKIE))
    registry: OIDCRegistry = request.state.oidc_providers
    provider = registry.get(name)
    try:
        if provider is None:
            raise provider_unknown()
        if flow is None or flow.provider != name:
            raise _state_invalid()
        account = await _verified_account(request, provider, flow)
        if flow.purpose == FlowPurpose.SIGN_IN:
            response = await _sign_in(request, session, provider, account, flow.next)
        else:
            if flow.purpose == FlowPurpose.LINK:
                await identities.link(
                    request,
                    session,
                    user_id=flow.user_id,
                    session_id=flow.session_id,
                    account=account,
                    label=provider.label,
                )
            else:
                await identities.reauthenticate(
                    request,
                    session,
                    user_id=flow.user_id,
                    session_id=flow.session_id,
                    account=account,
                    label=provider.label,
                    second_factor=flow.second_factor,
                )
            response = RedirectResponse(flow.next, status.HTTP_303_SEE_OTHER)
    except DomainError as refusal:
        response = _refusal_page(request, refusal, provider, flow)
    clear_flow_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _sign_in(
    request: Request,
    session: SessionDep,
    provider: OIDCProvider,
    account: identities.ProviderAccount,
    next_path: str,
) -> Response:
    user = await identities.account_for_sign_in(
        request, session, account=account, label=provider.label
    )
    if user.suspended_at is not None:
        raise account_suspended()
    method = provider_method(provider.name)
    if user.totp_enabled:
        # The login page's second step, its mfa_token in the page (never in a URL).
        challenge = await mfa.start_challenge(session, user=user, method=method)
        return render(
            request,
            "login.html",
            "Log in",
            mfa_token=challenge.extra["mfa_token"],
            mfa_provider=provider.label,
            next_path=next_path,
        )
    response = RedirectResponse(next_path, status.HTTP_303_SEE_OTHER)
    await sign_in(request, response, session, user, method)
    # Not a secret: it only tells auth.js to fetch an access token with the refresh
    # cookie (which no script can read) on the page it lands on.
    response.set_cookie(
        SIGNED_IN_COOKIE,
        "1",
        max_age=SIGNED_IN_MARK_SECONDS,
        path="/",
        secure=cookie_is_secure(request),
        samesite="lax",
    )
    return response


def _refusal_page(
    request: Request,
    refusal: DomainError,
    provider: OIDCProvider | None,
    flow: SignInFlow | None,
) -> HTMLResponse:
    next_path = flow.next if flow is not None else "/"
    signing_in = flow is None or flow.purpose == FlowPurpose.SIGN_IN
    retry = None
    if provider is not None and signing_in:
        retry = f"/auth/oidc/{provider.name}/start?{_next_query(next_path)}"
    response = render(
        request,
        "oidc_error.html",
        "Signing in did not work",
        code=refusal.code,
        message=refusal.detail,
        status_code=refusal.status_code,
        provider_label=provider.label if provider else None,
        retry_url=retry,
        purpose=flow.purpose if flow is not None else FlowPurpose.SIGN_IN,
        back=next_path,
    )
    response.status_code = refusal.status_code
    for key, value in (refusal.headers or {}).items():
        response.headers[key] = value
    return response


def _next_query(next_path: str) -> str:
    return urlencode({"next": next_path})
