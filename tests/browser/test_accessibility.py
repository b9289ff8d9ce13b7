"""axe-core finds no serious or critical violation on any page, signed out or in, in
either theme, at desktop and phone sizes."""

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.helpers import Account, create_post, make_account, sign_in
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser

# axe-core 4.14.1 (MPL-2.0, vendor/axe-LICENSE.txt), from the npm package: no network.
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
RUN_AXE = """async (rules) => {
  const options = { resultTypes: ["violations"] };
  if (rules) options.runOnly = { type: "rule", values: rules };
  const { violations } = await axe.run(document, options);
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} -> ${v.nodes.map((n) => n.target).join(", ")}`);
}"""
# What a theme changes is colour: the other rules see the same page in either theme.
THEME_RULES = ["color-contrast", "link-in-text-block"]
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

MARKDOWN = """An opening paragraph with a [link](https://example.com) and *emphasis*.

## A heading

- one item
- another item

> A quotation.

```
code block
```

Highlighted code, every token's colour measured in both themes, with a line too long
for a phone (the block scrolls, so it must take keyboard focus):

```python
@decorator
class Greeter(Base):
    'A docstring.'
    count: int = 0x1F + 2.5j  # a comment
    def greet(self, name: str, *args, **kwargs) -> str:
        return f"Hello, {name}! {self.count!r}" if name is not None else r'\n' + "x" * 80
```

- [x] A done task[^note]
- [ ] A task to do

[^note]: A footnote.
"""


def verify(api: httpx.Client, smtp_server: SMTPServer, account: Account) -> Account:
    token = smtp_server.mailbox.wait_for(account.email)[0].token("/verify-email")
    assert api.post("/api/users/verify-email", json={"token": token}).status_code == 204
    return account


def comment(api: httpx.Client, post_id: int, account: Account, text: str, **fields) -> int:
    body = {"content": text} | fields
    answer = api.post(f"/api/posts/{post_id}/comments", json=body, headers=account.headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


@pytest.fixture(scope="module")
def writer(live_server: str, smtp_server: SMTPServer) -> tuple[Account, int]:
    with httpx.Client(base_url=live_server, timeout=10) as api:
        user = verify(api, smtp_server, make_account(api))
        profile = {"bio": "Writes about gardens.\nAnd code.", "website": "https://a.example/"}
        answer = api.patch(f"/api/users/{user.id}", json=profile, headers=user.headers)
        assert answer.status_code == 200, answer.text
        create_post(api, user, "An older post", "Before the accessible one.")  # "Previous"
        post = create_post(api, user, "Accessible writing", MARKDOWN, tags=["a11y", "Web Dev"])
        for n in range(12):  # enough for the "Older posts" pager
            create_post(api, user, f"Filler {n}", "Short text.")
        # Comments: a thread with a reply, and a reader's first one, which waits for
        # approval (its Approve button is on the page for the signed-in author).
        first = comment(api, post["id"], user, "A comment with `code` and *emphasis*.")
        comment(api, post["id"], user, "A reply.", parent_id=first)
        reader = verify(api, smtp_server, make_account(api))
        comment(api, post["id"], reader, "A first comment, awaiting approval.")
    return user, post["id"]


@pytest.mark.parametrize(
    ("signed_in", "size"),
    [(False, "desktop"), (True, "desktop"), (True, "phone")],
    ids=["signed out", "signed in", "signed in, phone"],
)
def test_no_serious_violations_on_any_page_in_either_theme(
    browser: Browser, live_server: str, writer, signed_in: bool, size: str
) -> None:
    user, post_id = writer
    # The audit script is injected, so this context alone lifts the CSP; no motion, so
    # colours are measured after a theme switch, not half-way through its transition.
    context = browser.new_context(
        base_url=live_server, bypass_csp=True, viewport=SIZES[size], reduced_motion="reduce"
    )
    try:
        page = context.new_page()
        page.goto("/login")
        page.evaluate("localStorage.setItem('theme', 'light')")
        if signed_in:
            sign_in(page, user)
        editor = ["/write", f"/posts/{post_id}/edit", "/me/posts"]
        search = ["/search?q=filler+or+accessible", "/search?q=nowhere"]
        if size == "phone":  # what differs on a phone is the header (and the editor's tabs)
            paths = ["/", f"/posts/{post_id}", "/account", *editor, search[0]]
        elif signed_in:  # /login would only send a signed-in reader on to the home page
            paths = ["/", f"/posts/{post_id}", f"/users/{user.id}/posts", "/register", "/account"]
            paths += [*editor, "/admin"]  # a member's: the 404 page
        else:
            paths = ["/", f"/posts/{post_id}", f"/users/{user.id}/posts", "/register", "/login"]
            paths += ["/forgot-password", "/reset-password", *search, "/tags/a11y", "/admin"]
        found: list[str] = []
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            if path == f"/posts/{post_id}":  # its comments, as this reader sees them
                expect(page.locator("article.comment")).to_have_count(3 if signed_in else 2)
                approve = page.get_by_role("button", name="Approve")
                expect(approve).to_have_count(1 if signed_in else 0)
            page.add_script_tag(content=AXE)
            found += [f"{path} light: {problem}" for problem in page.evaluate(RUN_AXE)]
            page.get_by_role("button", name="Dark theme").click()
            assert page.evaluate("document.documentElement.dataset.theme") == "dark"
            found += [f"{path} dark: {problem}" for problem in page.evaluate(RUN_AXE, THEME_RULES)]
            page.evaluate("localStorage.setItem('theme', 'light')")
        assert found == [], "\n".join(found)
    finally:
        context.close()


def test_no_serious_violations_in_the_comment_forms_and_dialogs(
    browser: Browser, live_server: str, writer
) -> None:
    """What comments.js opens: a reply form under a thread, an edit form, the delete dialog."""
    user, post_id = writer
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    try:
        page = context.new_page()
        sign_in(page, user)
        page.goto(f"/posts/{post_id}")
        first = page.locator("article.comment").first
        first.get_by_role("button", name="Reply").click()
        expect(page.locator(".reply-form textarea")).to_be_focused()
        first.get_by_role("button", name="Edit").click()
        expect(page.get_by_label("Edit your comment")).to_be_visible()
        page.add_script_tag(content=AXE)
        found = page.evaluate(RUN_AXE)
        first.get_by_role("button", name="Cancel").click()
        first.get_by_role("button", name="Delete").click()
        expect(page.locator("#delete-comment-dialog")).to_be_visible()
        found += page.evaluate(RUN_AXE)
        assert found == [], "\n".join(found)
    finally:
        context.close()
