"""Request and response bodies: everything that enters or leaves the API is checked here."""

import unicodedata
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from fastapi import Path as PathParam
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from accounts.totp import CODE_MAX
from accounts.usernames import clean_username
from content.slugs import SLUG_MAX
from content.tags import TAGS_MAX, normalise_tag, normalise_tags
from models import (
    BIO_MAX,
    COMMENT_MAX,
    CONTENT_MAX,
    EMAIL_MAX,
    KEY_MAX,
    MAX_ID,
    OIDC_PROVIDER_MAX,
    PASSKEY_NAME_MAX,
    REPORT_REASON_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    USERNAME_MAX,
    WEBSITE_MAX,
    fold,
)

PASSWORD_MIN = 8
PASSWORD_MAX = 128
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
TEXT_WHITESPACE = "\n\r\t"
# Containment checks skip shorter names: every password "contains" the username "a".
MIN_GUESSABLE_PART = 3
# A 422 lists at most this many errors, the last one counting those left out: what a
# hostile body costs to answer does not grow with it.
MAX_REPORTED_ERRORS = 10


def _no_unencodable(value: str) -> str:
    """Lone surrogates cannot be stored or hashed: refuse them up front."""
    if any(unicodedata.category(char) == "Cs" for char in value):
        raise ValueError("must be valid Unicode text")
    return value


def _single_line_name(value: str) -> str:
    """One visible name per person: NFKC, no invisible characters, no mixed scripts
    (Unicode TR #39); accounts/usernames.py holds the rule and says why."""
    return clean_username(_no_unencodable(value))


def _without_controls(value: str, allowed: str, problem: str) -> str:
    _no_unencodable(value)
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        raise ValueError(problem)
    return value


def _plain_text(value: str) -> str:
    """Text as people type it: any character but controls, bar newlines and tabs."""
    return _without_controls(value, TEXT_WHITESPACE, "must not contain control characters")


def _one_line(value: str) -> str:
    """A label: printable text on one line."""
    return _without_controls(value, "", "must be one line without control characters")


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _email_rules(value: str) -> str:
    """Lengths are checked on what is stored: lowercasing can lengthen an address ("İ"
    becomes two characters) and its folded key far more (NFKC makes 18 of U+FDFA)."""
    value = value.lower()
    if len(value) > EMAIL_MAX:
        raise ValueError(f"must be at most {EMAIL_MAX} characters")
    if len(fold(value)) > KEY_MAX:
        raise ValueError(f"must be at most {KEY_MAX} characters once normalised (NFKC)")
    return value


def _password_text(value: str) -> str:
    """Any Unicode, spaces included; only what cannot be hashed faithfully is refused."""
    _no_unencodable(value)
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _web_address(value: str) -> str:
    """An http(s) address with a host, or empty (which clears it): never `javascript:`,
    `data:` or any other scheme a link could run or smuggle."""
    if not value:
        return value
    if any(char.isspace() for char in value):
        raise ValueError("must be a web address without spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError("must be a web address starting with http:// or https://")
    return value


# For parameters declared on routes rather than in a model.
TextField = AfterValidator(_plain_text)
PasswordField = AfterValidator(_password_text)
PathId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
Username = Annotated[
    str,
    Field(min_length=1, max_length=4 * USERNAME_MAX, pattern=r"\S"),
    AfterValidator(_single_line_name),
]
Email = Annotated[
    EmailStr, Field(max_length=4 * EMAIL_MAX), BeforeValidator(_strip), AfterValidator(_email_rules)
]
Password = Annotated[
    str,
    Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX),
    AfterValidator(_password_text),
]
# Checked against the stored hash, never stored: only its length is bounded.
CurrentPassword = Annotated[str, Field(max_length=PASSWORD_MAX)]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(_plain_text),
]
PasskeyName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=PASSKEY_NAME_MAX),
    AfterValidator(_one_line),
]
Content = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CONTENT_MAX),
    AfterValidator(_plain_text),
]


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(fold(line) for line in lines if line and not line.startswith("#"))


def password_problem(password: str, *, username: str, email: str) -> str | None:
    """Why this password is too easy to guess for this account, or None if it is fine."""
    folded = fold(password)
    name = fold(username)
    local_part = fold(email.partition("@")[0])
    if len(name) >= MIN_GUESSABLE_PART and name in folded:
        return "Password must not contain the username"
    if len(local_part) >= MIN_GUESSABLE_PART and local_part in folded:
        return "Password must not contain the email address"
    if folded in common_passwords():
        return "Password is too common; choose one that is harder to guess"
    return None


def too_many_errors(count: int, what: str = "errors") -> PydanticCustomError:
    """The last entry of a cut list of errors: how many more there were."""
    return PydanticCustomError(
        "too_many_errors", "{count} more {what} not listed", {"count": count, "what": what}
    )


class InputModel(BaseModel):
    """Unknown fields are refused, so a client can never set what it was not offered."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="wrap")
    @classmethod
    def _few_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """A body of 100,000 unknown keys would make one error each (a 10 MB answer,
        seconds of work): past MAX_REPORTED_ERRORS, name the first few and count the rest."""
        if isinstance(data, dict) and len(data) > MAX_REPORTED_ERRORS:
            fields = cls.model_fields
            unknown = [key for key in data if key not in fields]
            if len(unknown) > MAX_REPORTED_ERRORS:
                shown = MAX_REPORTED_ERRORS - 1
                errors = [
                    InitErrorDetails(type="extra_forbidden", loc=(key,), input=data[key])
                    for key in unknown[:shown]
                ]
                more = too_many_errors(len(unknown) - shown, "unknown fields")
                errors.append(InitErrorDetails(type=more, loc=(), input=None))
                raise ValidationError.from_exception_data(cls.__name__, errors)
        return handler(data)


def _omittable_in_schema(schema: dict[str, Any]) -> None:
    """What the API does, said in OpenAPI: the field may be left out (no default shown),
    but is never null (the null alternative of `T | None` is dropped)."""
    schema.pop("default", None)
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


def omittable(description: str | None = None) -> Any:
    """A PATCH field's default, for a field typed `T | None`. Plain `T | None` (rather
    than a union with a hidden None) keeps a refused value's `loc` the field's own name,
    which the front end matches (forms.js); `PartialUpdate` refuses an explicit null."""
    return Field(default=None, description=description, json_schema_extra=_omittable_in_schema)


class PartialUpdate(InputModel):
    """A PATCH body: fields may be left out, but a field that is sent must not be null."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may be omitted but not null")
        return self


class UserCreate(InputModel):
    username: Username
    email: Email
    password: Password

    @model_validator(mode="after")
    def _password_is_strong_enough(self) -> Self:
        if problem := password_problem(self.password, username=self.username, email=self.email):
            raise ValueError(problem)
        return self


Bio = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=BIO_MAX),
    AfterValidator(_plain_text),
    Field(description="Plain text shown on the author page (newlines kept); empty clears it"),
]
Website = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=WEBSITE_MAX),
    AfterValidator(_one_line),
    AfterValidator(_web_address),
    Field(description="An http(s) address linked from the author page; empty clears it"),
]


class UserUpdate(PartialUpdate):
    username: Username | None = omittable()
    email: Email | None = omittable()
    bio: Bio | None = omittable("Plain text, at most 300 characters; empty clears it")
    website: Website | None = omittable("An http:// or https:// address; empty clears it")
    comment_mail: bool | None = omittable("Whether mails about comments are wanted")
    current_password: CurrentPassword | None = omittable(
        "When `email` changes: instead of recent authentication"
    )


class PasswordChange(InputModel):
    current_password: CurrentPassword | None = omittable(
        "Instead of recent authentication (POST /api/users/me/reauthentication)"
    )
    new_password: Password


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    image_file: str | None
    image_path: str
    bio: str | None
    website: str | None


class UserPrivate(UserPublic):
    email: str
    email_verified: bool
    role: Literal["member", "admin"] = Field(
        description="Set from the server's shell (`manage promote|demote`), never through the API"
    )
    comment_mail: bool = Field(
        description="Mails about comments on your posts and replies to your comments"
    )
    totp_enabled: bool = Field(description="Whether signing in with a password asks for a code")
    recovery_codes_left: int = Field(description="Unused recovery codes (0 without 2FA)")
    has_password: bool = Field(
        description="False for an account made through a provider until a password is set "
        "(log out, then “Forgot your password?”)"
    )


# A token from a mailed link (accounts/email_links.py): ours are 43 URL-safe characters.
LinkToken = Annotated[str, Field(min_length=1, max_length=128)]


class EmailVerification(InputModel):
    token: LinkToken


class PasswordResetRequest(InputModel):
    email: Email


class PasswordResetConfirm(InputModel):
    token: LinkToken
    new_password: Password


class Accepted(BaseModel):
    """The request was taken; what follows happens by mail."""

    detail: str


class ErrorMessage(BaseModel):
    detail: str
    # Stable and machine-readable where the API gives one (errors.DomainError).
    code: str | None = None


ERROR_DESCRIPTIONS = {
    400: "The body could not be parsed, or the request cannot be carried out as asked",
    401: "Missing, invalid, expired or revoked credentials",
    403: "Signed in, but not allowed to do this",
    404: "No such resource",
    409: "The username or email is taken",
    413: "Request body too large",
    415: "Not a picture in an accepted format",
    429: "Too many attempts or requests; see Retry-After",
    503: "Busy or briefly unavailable; try again after Retry-After",
}


def refused_422(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry for a route whose 422 is either FastAPI's list (the body did not
    validate) or one of the route's own refusals, `{detail, code}` (`description` says
    which)."""
    either = [
        {"$ref": "#/components/schemas/ErrorMessage"},
        {"$ref": "#/components/schemas/HTTPValidationError"},
    ]
    return {
        422: {
            "content": {"application/json": {"schema": {"anyOf": either}}},
            "description": description,
        }
    }


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation for the error answers a route can give."""
    return {
        code: {"model": ErrorMessage, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a token type, not a secret)


# --- The second factor (accounts/mfa.py) --------------------------------------------
# A code as typed: six digits, or a recovery code (xxxx-xxxx-xxxx); longer is refused.
SecondFactorCode = Annotated[str, Field(min_length=1, max_length=CODE_MAX), TextField]


class TotpEnrolment(BaseModel):
    """A new secret, pending until a code of it is confirmed."""

    secret: str = Field(description="Base32, for typing into an authenticator app")
    otpauth_uri: str = Field(description="The otpauth:// URI the QR code holds")
    qr_svg: str = Field(description="The QR code as inline SVG (no script, no style)")


class TotpConfirmation(InputModel):
    code: SecondFactorCode


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Single-use codes, shown this once")


class MfaSignIn(InputModel):
    mfa_token: Annotated[str, Field(min_length=1, max_length=128)]
    code: SecondFactorCode


def _in_the_future(value: datetime) -> datetime:
    if value <= datetime.now(UTC):
        raise ValueError('must be in the future (to publish now, send status "published")')
    return value


Summary = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=SUMMARY_MAX),
    AfterValidator(_one_line),
    Field(description="The card's text; empty for an excerpt of the content"),
]
PublishAt = Annotated[
    AwareDatetime,
    AfterValidator(_in_the_future),
    Field(description="ISO 8601 with a time zone, in the future: the post is scheduled"),
]
Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=SLUG_MAX),
    AfterValidator(_one_line),
]
# normalise_tag bounds the length (TAG_INPUT_MAX as sent) with a message naming the tag.
Tag = Annotated[
    str,
    AfterValidator(_one_line),
    AfterValidator(normalise_tag),
]
Tags = Annotated[
    list[Tag],
    Field(
        max_length=TAGS_MAX,
        description=(
            f"At most {TAGS_MAX}; each normalised to lower case, letters and digits joined "
            'by hyphens ("Web Dev" is `web-dev`), duplicates dropped; answered in '
            "alphabetical order"
        ),
    ),
    AfterValidator(normalise_tags),
]
# What a writer may ask for: "scheduled" follows from `publish_at`.
WritableStatus = Literal["draft", "published"]


class PostCreate(InputModel):
    title: Title
    content: Content
    status: WritableStatus = Field(
        default="published", description="`draft` keeps it off the site, for its author only"
    )
    publish_at: PublishAt | None = None
    summary: Summary | None = None
    tags: Tags = Field(default_factory=list)
    comments_enabled: bool = Field(default=True, description="Whether new comments are taken")


class PostReplace(InputModel):
    """A PUT: the post's text, all of it (its status changes through PATCH)."""

    title: Title
    content: Content


class PostUpdate(PartialUpdate):
    title: Title | None = omittable()
    content: Content | None = omittable()
    status: WritableStatus | None = omittable(
        "`published` publishes now (a draft or a scheduled post); `draft` takes it off the site"
    )
    publish_at: PublishAt | None = omittable("Schedules (or reschedules) the post")
    summary: Summary | None = omittable("Empty to go back to an excerpt")
    slug: Slug | None = omittable("The words in its address; letters and digits are kept")
    tags: Tags | None = omittable("Replaces the post's tags ([] to remove them all)")
    comments_enabled: bool | None = omittable(
        "Whether new comments are taken (existing ones stay visible)"
    )


class PreviewRequest(InputModel):
    """Markdown to render as it would be published: the same rules as a post's content."""

    content: Content


class PreviewResponse(BaseModel):
    """The sanitised HTML a post with this content would show."""

    html: str


class PostResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    content: str
    status: Literal["draft", "scheduled", "published"]
    slug: str
    url: str = Field(description="The post page's path: /posts/{id}/{slug}")
    summary: str | None
    # The publication time: null for a draft, the planned time for a scheduled post.
    date_posted: datetime | None
    # Set when the post changes after its publication.
    updated_at: datetime | None
    reading_minutes: int
    tags: list[str] = Field(description="Normalised, in alphabetical order")
    user_id: int
    author: UserPublic
    comments_enabled: bool = Field(description="Whether new comments are taken")
    comment_count: int = Field(
        description="Published comments and replies on it (those of suspended accounts left out)"
    )


class TagCount(BaseModel):
    """A tag in use on published posts, and on how many."""

    name: str
    count: int


class PostPage(BaseModel):
    """A page of posts, newest first. `next_cursor` fetches the next (older) page and
    is null on the last one."""

    model_config = ConfigDict(from_attributes=True)

    items: list[PostResponse]
    next_cursor: str | None


class SearchResultResponse(PostResponse):
    snippet: str = Field(
        description="HTML: a piece of the post's text with the words it was found by in "
        "`<mark>`; everything else escaped (`<mark>` is the only markup)"
    )


class SearchPage(BaseModel):
    """Posts that match a search, best first (then newest). `next_cursor` fetches the
    next page and is null on the last one (at most 1,000 results are paged through)."""

    items: list[SearchResultResponse]
    next_cursor: str | None


class UploadedImage(BaseModel):
    """An image stored for posts (images/media.py): where it is served, and its size as
    stored, for the `width` and `height` of an `<img>`."""

    url: str = Field(description="/media/images/<sha256 of the WebP>.webp")
    width: int = Field(description="Pixels, as stored (at most 2048 on the long side)")
    height: int


# --- Passkeys (accounts/passkeys.py). The credentials are the JSON form browsers give
# (`PublicKeyCredential.toJSON()`); py_webauthn checks everything beyond the shape, and
# fields browsers add later are let through for it to ignore.
Base64URL = Annotated[str, Field(max_length=16 * 1024)]


class WebAuthnJSON(BaseModel):
    model_config = ConfigDict(extra="allow")


class AttestationResponseJSON(WebAuthnJSON):
    clientDataJSON: Base64URL
    attestationObject: Base64URL
    transports: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=16)


class AssertionResponseJSON(WebAuthnJSON):
    clientDataJSON: Base64URL
    authenticatorData: Base64URL
    signature: Base64URL
    userHandle: Base64URL | None = None


class RegistrationCredentialJSON(WebAuthnJSON):
    id: Base64URL
    rawId: Base64URL
    type: Literal["public-key"]
    response: AttestationResponseJSON


class AuthenticationCredentialJSON(WebAuthnJSON):
    id: Base64URL
    rawId: Base64URL
    type: Literal["public-key"]
    response: AssertionResponseJSON


class PasskeyOptionsRequest(InputModel):
    """A token alone may be stolen: adding a way in needs recent authentication, or the
    password again here."""

    current_password: CurrentPassword | None = omittable(
        "Instead of recent authentication (POST /api/users/me/reauthentication)"
    )


class PasskeyRegistration(InputModel):
    credential: RegistrationCredentialJSON
    name: PasskeyName | None = Field(
        default=None, description='What to call it, e.g. the device; "Passkey" if left out'
    )


# The options routes answer WebAuthn's own JSON (PublicKeyCredentialCreationOptionsJSON,
# PublicKeyCredentialRequestOptionsJSON), handed to the browser as it is.
PASSKEY_OPTIONS_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Options for the browser's WebAuthn call"}
}


class PasskeySignIn(InputModel):
    credential: AuthenticationCredentialJSON


class PasskeyRename(InputModel):
    name: PasskeyName


class PasskeyInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None


class IdentityInfo(BaseModel):
    """An account at an OpenID Connect provider linked to yours (accounts/identities.py):
    `provider` is its configured name, `email` the one it last gave."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    provider: str
    subject: str
    email: str
    created_at: datetime
    last_used_at: datetime | None


class IdentityLinkRequest(InputModel):
    """Which configured provider to link (its name, as in OIDC_PROVIDERS)."""

    provider: str = Field(max_length=OIDC_PROVIDER_MAX)


class IdentityLinkStarted(BaseModel):
    """Where to send the browser: the provider's sign-in, whose answer links it (or
    confirms the session, for a reauthentication)."""

    authorization_url: str


class AdminAccount(BaseModel):
    """An account as the admin page lists it (the email included: admins only)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str
    verified: bool = Field(description="Whether the owner opened a link mailed to the address")
    role: Literal["member", "admin"]
    created_at: datetime
    suspended: bool
    post_count: int = Field(description="Published posts, shown or hidden by a suspension")
    comment_count: int = Field(description="Comments published or waiting for approval")


class AdminAccountPage(BaseModel):
    items: list[AdminAccount]
    next_cursor: str | None


class AdminActionResponse(BaseModel):
    """One entry of the admin-actions log; `actor_id` is null for the server's shell."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor_id: int | None
    actor_name: str
    action: Literal[
        "suspend",
        "restore",
        "delete_post",
        "promote",
        "demote",
        "delete_comment",
        "approve_comment",
        "dismiss_reports",
        "reset_2fa",
    ]
    target_id: int | None
    target_name: str
    detail: str


class AdminActionPage(BaseModel):
    items: list[AdminActionResponse]
    next_cursor: str | None


CommentText = Annotated[
    str,
    Field(
        description=f"Markdown (emphasis, code, links, lists, quotes), 1 to {COMMENT_MAX:,} "
        "characters; 422 `comment_empty`, `comment_too_long` or `comment_invalid_characters`"
    ),
]


class CommentCreate(InputModel):
    content: CommentText
    parent_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The comment replied to (a reply to a reply attaches to its top-level comment)",
    )


class CommentUpdate(InputModel):
    content: CommentText


class ReportCreate(InputModel):
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=REPORT_REASON_MAX),
        AfterValidator(_plain_text),
        Field(description="What is wrong with it, for the admins"),
    ]


class CommentResponse(BaseModel):
    """A comment or a reply. A deleted comment that has replies stays as a placeholder:
    `status: "deleted"`, `author` null, `content` and `content_html` empty."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    post_id: int
    parent_id: int | None = Field(description="The top-level comment this replies to")
    author: UserPublic | None = Field(description="null for a deleted placeholder")
    content: str = Field(description="The Markdown source as stored")
    content_html: str = Field(description="Sanitised HTML to show as it is")
    created_at: datetime
    updated_at: datetime | None = Field(description="Set when its author edited it")
    status: Literal["pending", "published", "deleted"] = Field(
        description="`pending` waits for approval (seen by its author, the post's author and "
        "admins only)"
    )


class CommentPage(BaseModel):
    """Comments oldest first; `next_cursor` fetches the next (newer) page, null on the last."""

    model_config = ConfigDict(from_attributes=True)

    items: list[CommentResponse]
    next_cursor: str | None


class CommentReportResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reporter: UserPublic
    reason: str
    created_at: datetime


class ReportedCommentResponse(CommentResponse):
    reports: list[CommentReportResponse] = Field(description="Oldest first")


class ReportedCommentPage(BaseModel):
    items: list[ReportedCommentResponse]
    next_cursor: str | None
