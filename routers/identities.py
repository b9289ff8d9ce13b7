"""Your accounts at OpenID Connect providers (accounts/identities.py): the list, linking
one (the browser goes to the provider; routers/oidc.py's callback links it) and
unlinking one. Linking and unlinking change how the account is signed into: both need
recent authentication."""

from fastapi import APIRouter, Request, Response, status

from accounts import identities
from accounts.oidc import FlowPurpose, provider_named, start_flow
from auth import CurrentUser, RecentSession
from database import SessionDep
from models import OIDCIdentity
from schemas import IdentityInfo, IdentityLinkRequest, IdentityLinkStarted, PathId, error_responses

router = APIRouter(prefix="/api/users", tags=["users"])

# Where the browser lands once the provider is linked (or linking failed).
ACCOUNT_PAGE = "/account#sign-in-methods"


@router.get("/me/identities", response_model=list[IdentityInfo], responses=error_responses(401))
async def list_identities(current_user: CurrentUser, session: SessionDep) -> list[OIDCIdentity]:
    """The provider accounts linked to yours, oldest first."""
    return await identities.identities_of(session, current_user.id)


@router.post(
    "/me/identities",
    response_model=IdentityLinkStarted,
    responses=error_responses(401, 404, 413),
)
async def start_linking(
    request: Request, response: Response, body: IdentityLinkRequest, current: RecentSession
) -> IdentityLinkStarted:
    """Start linking a provider to your account: send the browser to
    `authorization_url` (this answer also sets the flow cookie that binds it to this
    browser and session). The provider sends it back to the account page."""
    provider = provider_named(request.state.oidc_providers, body.provider)
    url = start_flow(
        request,
        response,
        provider,
        next_path=ACCOUNT_PAGE,
        purpose=FlowPurpose.LINK,
        user_id=current.user_id,
        session_id=current.id,
    )
    return IdentityLinkStarted(authorization_url=url)


@router.delete(
    "/me/identities/{identity_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 409, 429),
)
async def unlink_identity(
    request: Request, identity_id: PathId, current: RecentSession, session: SessionDep
) -> None:
    """Unlink a provider account: it signs you in no more. Refused (409
    `identity_last_method`) when it is the last way to sign in."""
    labels = {provider.name: provider.label for provider in request.state.oidc_providers}
    await identities.unlink(
        request, session, user_id=current.user_id, identity_id=identity_id, labels=labels
    )
