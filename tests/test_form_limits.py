"""Form fields' length limits come from the constants the models and schemas enforce
(web/templating.py's `limits`), so a form and the API can never disagree about them."""

import re
from html.parser import HTMLParser

from accounts.totp import CODE_MAX, DIGITS
from config import BASE_DIR
from content.search import QUERY_MAX_LENGTH
from content.slugs import SLUG_MAX
from models import (
    BIO_MAX,
    COMMENT_MAX,
    CONTENT_MAX,
    EMAIL_MAX,
    PASSKEY_NAME_MAX,
    PAT_NAME_MAX,
    REPORT_REASON_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    USERNAME_MAX,
    WEBSITE_MAX,
)
from schemas import PASSWORD_MAX, PASSWORD_MIN
from tests.helpers import create_post

PASSWORD = {"maxlength": PASSWORD_MAX}
SEARCH = {"maxlength": QUERY_MAX_LENGTH}
NEW_PASSWORD = {"maxlength": PASSWORD_MAX, "minlength": PASSWORD_MIN}
# The editor's fields (/write and /posts/{id}/edit).
EDITOR = {
    "editor-title": {"maxlength": TITLE_MAX},
    "editor-content": {"maxlength": CONTENT_MAX},
    "editor-summary": {"maxlength": SUMMARY_MAX},
    "editor-slug": {"maxlength": SLUG_MAX},
}

# Every field with a length limit, page by page: id -> the limits it must carry.
EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "/register": {
        "register-username": {"maxlength": USERNAME_MAX},
        "register-email": {"maxlength": EMAIL_MAX},
        "register-password": NEW_PASSWORD,
        "register-confirm": NEW_PASSWORD,
    },
    "/login": {
        "login-email": {"maxlength": EMAIL_MAX},
        "login-password": PASSWORD,
        # The second step's code: six digits, or a recovery code.
        "mfa-code": {"maxlength": CODE_MAX},
    },
    "/forgot-password": {"forgot-email": {"maxlength": EMAIL_MAX}},
    "/reset-password": {
        "reset-password": NEW_PASSWORD,
        "reset-confirm": NEW_PASSWORD,
    },
    "/account": {
        "profile-username": {"maxlength": USERNAME_MAX},
        "profile-email": {"maxlength": EMAIL_MAX},
        "profile-bio": {"maxlength": BIO_MAX},
        "profile-website": {"maxlength": WEBSITE_MAX},
        "new-password": NEW_PASSWORD,
        "confirm-new-password": NEW_PASSWORD,
        "rename-passkey-name": {"maxlength": PASSKEY_NAME_MAX},
        "token-name": {"maxlength": PAT_NAME_MAX},
        "totp-code": {"minlength": DIGITS, "maxlength": DIGITS + 1},
    },
}


class LengthLimits(HTMLParser):
    """The `maxlength` and `minlength` of every field of a page, by the field's id."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, dict[str, int]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        limits = {
            name: int(value)
            for name, value in found.items()
            if name in ("maxlength", "minlength") and value is not None
        }
        if limits:
            assert tag in ("input", "textarea"), tag
            field_id = found.get("id")
            assert field_id, f"a <{tag}> with a length limit and no id"
            assert field_id not in self.fields, field_id
            self.fields[field_id] = limits


def length_limits(html: str) -> dict[str, dict[str, int]]:
    parser = LengthLimits()
    parser.feed(html)
    parser.close()
    return parser.fields


def test_every_form_field_carries_the_model_limits(client, alice):
    post = create_post(client, alice)
    pages = dict(EXPECTED)
    pages["/"] = {}
    # Its Edit is a link to the editor; its comments have a form and a report dialog.
    pages[f"/posts/{post['id']}"] = {
        "comment-content": {"maxlength": COMMENT_MAX},
        "report-comment-reason": {"maxlength": REPORT_REASON_MAX},
    }
    pages["/write"] = EDITOR
    pages[f"/posts/{post['id']}/edit"] = EDITOR
    pages["/search?q=hello"] = {"search-page-input": SEARCH}
    for path, expected in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        # Every page's header has the search field.
        assert length_limits(response.text) == {"site-search-input": SEARCH} | expected, path


def test_no_template_states_a_length_limit_as_a_literal():
    literal = re.compile(r"""\b(?:max|min)length\s*=\s*["']?\s*\d""", re.IGNORECASE)
    templates = sorted((BASE_DIR / "templates").rglob("*.html"))
    assert templates
    found = [
        f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}"
        for path in templates
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert found == []
    # ... and the limits the templates do state all come from `limits`.
    stated = [
        value
        for path in templates
        for value in re.findall(r"""(?:max|min)length="([^"]*)\"""", path.read_text())
    ]
    assert stated
    assert all(re.fullmatch(r"\{\{ limits\.[a-z_]+ \}\}", value) for value in stated), stated
