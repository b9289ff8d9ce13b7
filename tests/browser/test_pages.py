"""Pages: one /me request per load, who may edit what, and escaping everywhere."""

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import create_post, make_account, sign_in, unique

pytestmark = pytest.mark.browser


def test_current_user_is_requested_once_per_page_load(page: Page, api) -> None:
    user = make_account(api)
    post = create_post(api, user, "Counting requests", "Body")
    sign_in(page, user)
    me_requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            me_requests.append(request.url) if request.url.endswith("/api/users/me") else None
        ),
    )

    for path, ready in [
        ("/", "#nav-username"),
        (f"/posts/{post['id']}", "#post-actions"),  # layout.js and post.js both ask
        ("/account", "#account"),  # layout.js and account.js both ask
        (f"/posts/{post['id']}/edit", "#editor"),  # layout.js and editor.js both ask
        ("/me/posts", "#my-posts-list"),  # layout.js and my-posts.js both ask
    ]:
        me_requests.clear()
        page.goto(path)
        expect(page.locator(ready)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert len(me_requests) == 1, (path, me_requests)


def test_only_the_author_may_edit_or_delete(
    new_page: Callable[[], Page], api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 403")
    alice, bob = make_account(api), make_account(api)
    alice_page, bob_page = new_page(), new_page()
    sign_in(alice_page, alice)
    sign_in(bob_page, bob)

    alice_page.goto("/")
    alice_page.get_by_role("link", name="New Post").click()
    alice_page.get_by_label("Title").fill("Alice's thoughts")
    alice_page.get_by_label("Content", exact=True).fill("Only Alice may change this.")
    alice_page.get_by_role("button", name="Publish").click()
    expect(alice_page).to_have_url(re.compile(r"/posts/\d+/alice-s-thoughts$"))
    post_id = alice_page.url.rsplit("/", 2)[1]
    expect(alice_page.get_by_role("link", name="Edit")).to_be_visible()
    expect(alice_page.get_by_role("button", name="Delete")).to_be_visible()

    bob_page.goto(f"/posts/{post_id}")
    expect(bob_page.locator("#nav-username")).to_have_text(bob.username)
    bob_page.wait_for_load_state("networkidle")
    expect(bob_page.locator("#post-actions")).to_be_hidden()
    expect(bob_page.get_by_role("link", name="Edit")).to_be_hidden()
    status = bob_page.evaluate(
        """async (id) => (await fetch(`/api/posts/${id}`, {
            method: 'DELETE',
            headers: { Authorization: 'Bearer ' + localStorage.access_token },
        })).status""",
        post_id,
    )
    assert status == 403

    alice_page.get_by_role("link", name="Edit").click()
    expect(alice_page).to_have_url(re.compile(rf"/posts/{post_id}/edit$"))
    expect(alice_page.get_by_label("Title")).to_have_value("Alice's thoughts")
    expect(alice_page.get_by_label("Content", exact=True)).to_have_value(
        "Only Alice may change this."
    )
    alice_page.get_by_label("Title").fill("Alice's second thoughts")
    alice_page.get_by_role("button", name="Update").click()
    expect(alice_page.locator("#editor-save-status")).to_contain_text("Updated")
    alice_page.get_by_role("link", name="View post").click()
    expect(alice_page.locator("#post-title")).to_have_text("Alice's second thoughts")
    alice_page.reload()
    expect(alice_page.locator("#post-title")).to_have_text("Alice's second thoughts")

    alice_page.get_by_role("button", name="Delete").click()
    confirm = alice_page.get_by_role("dialog", name="Delete this post?")
    confirm.get_by_role("button", name="Delete").click()
    expect(alice_page).to_have_url(re.compile(r"/$"))
    expect(alice_page.locator(f'article[data-post-id="{post_id}"]')).to_have_count(0)
    assert api.get(f"/api/posts/{post_id}").status_code == 404


def test_user_supplied_text_is_shown_literally(page: Page, api, console: ConsoleWatch) -> None:
    image_attack = "<img src=x onerror=alert(1)>"
    script_attack = '"><script>alert(1)</script>'
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    user = make_account(api, image_attack, f"{unique('xss')}@example.com")
    user_id = user.id
    first = create_post(api, user, image_attack, script_attack)
    create_post(api, user, script_attack, image_attack)

    sign_in(page, user)
    for path in ["/", f"/posts/{first['id']}", f"/users/{user_id}/posts", "/account"]:
        page.goto(path)
        expect(page.locator("#nav-username")).to_have_text(image_attack)  # as text, never markup
        expect(page.get_by_text(image_attack, exact=True).first).to_be_visible()
        if path != "/account":
            expect(page.get_by_text(script_attack, exact=True).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.locator("main img[src='x'], main script:not([src])").count() == 0
    expect(page.locator("#profile-username")).to_have_value(image_attack)
    assert dialogs == []
    assert console.unexpected() == []


def test_error_page_and_theme_toggle(page: Page, console: ConsoleWatch) -> None:
    console.allow(r"status of 404")
    response = page.goto("/posts/999999")
    assert response is not None
    assert response.status == 404
    expect(page.locator("#error-code")).to_have_text("404")
    expect(page.get_by_role("link", name="Back to the home page")).to_be_visible()

    page.emulate_media(color_scheme="light")
    page.goto("/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    toggle = page.get_by_role("button", name="Dark theme")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")  # same name, new state
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    assert page.evaluate("localStorage.getItem('theme')") == "dark"
