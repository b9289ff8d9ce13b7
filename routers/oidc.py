"""Signing in through an OpenID Connect provider (accounts/oidc.py): the browser's
way there. Pages, not API: every refusal is an error page."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse

from accounts.oidc import (
    FLOW_COOKIE,
    FLOW_COOKIE_PATH,
    FLOW_SECONDS,
    begin_sign_in,
    provider_named,
    seal_flow,
)
from accounts.sessions import cookie_is_secure
from config import get_settings

router = APIRouter(prefix="/auth/oidc", include_in_schema=False)


def redirect_uri(request: Request, name: str) -> str:
    """Where the provider sends the browser back: under PUBLIC_URL when it is set, else
    the address this request came to (the provider only sends back to the addresses
    registered with it, so a forged Host leads nowhere)."""
    base = get_settings().public_url or request.base_url
    return f"{str(base).rstrip('/')}/auth/oidc/{name}/callback"


@router.get("/{name}/start")
async def start(
    request: Request,
    name: str,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> RedirectResponse:
    """To the provider's sign-in, with this browser's flow in a short-lived cookie."""
    provider = provider_named(request.state.oidc_providers, name)
    url, flow = begin_sign_in(
        provider, redirect_uri=redirect_uri(request, provider.name), next_path=next_path
    )
    response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        FLOW_COOKIE,
        seal_flow(flow),
        max_age=FLOW_SECONDS,
        path=FLOW_COOKIE_PATH,
        secure=cookie_is_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response
