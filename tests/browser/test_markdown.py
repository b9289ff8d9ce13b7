"""Markdown in the browser: the Write / Preview toggle, a published post shown
rendered, and hostile Markdown that never runs."""

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import create_post, make_account, sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
MARKDOWN = "Some **bold words** and a [link](https://example.com/page).\n\n- one\n- two"


def fail_on_dialog(page: Page) -> list[str]:
    """Any alert, confirm or prompt is recorded (and dismissed): none may appear."""
    opened: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def test_write_and_preview_then_publish(page: Page, api) -> None:
    opened = fail_on_dialog(page)
    sign_in(page, make_account(api))
    page.set_viewport_size(PHONE)  # Write and Preview are tabs here
    page.goto("/write")
    write = page.get_by_role("tab", name="Write")
    preview = page.get_by_role("tab", name="Preview")
    area = page.locator("#editor-preview")
    expect(write).to_have_attribute("aria-selected", "true")
    expect(preview).to_have_attribute("aria-selected", "false")

    # Nothing typed yet: nothing to preview, and no request needed.
    preview.click()
    expect(area).to_have_text("Nothing to preview")
    write.click()

    page.get_by_label("Title").fill("Rendered")
    page.get_by_label("Content", exact=True).fill(MARKDOWN)
    # Kept on this device at once, whatever becomes of the save to the server.
    copy = page.evaluate("localStorage.getItem('draft:new')") or ""
    assert MARKDOWN.replace("\n", "\\n") in copy
    preview.click()
    expect(preview).to_have_attribute("aria-selected", "true")
    expect(write).to_have_attribute("aria-selected", "false")
    expect(page.get_by_label("Content", exact=True)).to_be_hidden()
    expect(area.locator("strong")).to_have_text("bold words")
    link = area.get_by_role("link", name="link")
    expect(link).to_have_attribute("href", "https://example.com/page")
    expect(link).to_have_attribute("rel", "nofollow noopener")
    expect(area.locator("li")).to_have_count(2)

    # Back to Write: the text is as it was.
    write.click()
    expect(write).to_have_attribute("aria-selected", "true")
    expect(area).to_be_hidden()
    expect(page.get_by_label("Content", exact=True)).to_have_value(MARKDOWN)

    # Publishing from the preview works too.
    preview.click()
    expect(area.locator("strong")).to_be_visible()
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/posts/\d+/rendered$"))
    content = page.locator("#post-content")
    expect(content.locator("strong")).to_have_text("bold words")
    expect(content.get_by_role("link", name="link")).to_have_attribute(
        "href", "https://example.com/page"
    )
    expect(content.locator("li")).to_have_count(2)
    assert "**" not in content.inner_text()

    # Editing starts from the Markdown source, not the rendered text; side by side on a
    # wide screen, the preview follows the text.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Content", exact=True)).to_have_value(MARKDOWN)
    expect(page.locator("#editor-tabs")).to_be_hidden()
    page.get_by_label("Content", exact=True).fill("Now *emphasised*.")
    expect(area.locator("em")).to_have_text("emphasised")
    page.get_by_role("button", name="Update").click()
    expect(page.locator("#editor-save-status")).to_contain_text("Updated")
    page.get_by_role("link", name="View post").click()
    expect(content.locator("em")).to_have_text("emphasised")
    assert opened == []


def test_a_failed_preview_says_so(page: Page, api, console: ConsoleWatch) -> None:
    console.allow(r"status of 503")
    sign_in(page, make_account(api))
    page.set_viewport_size(PHONE)
    page.goto("/write")
    page.route(
        "**/api/posts/preview",
        lambda route: route.fulfill(status=503, json={"detail": "Try again in a moment"}),
    )
    page.get_by_label("Content", exact=True).fill("**x**")
    page.get_by_role("tab", name="Preview").click()
    expect(page.locator("#editor-preview-error")).to_be_visible()
    expect(page.locator("#editor-preview-error")).to_have_text("Try again in a moment")
    expect(page.locator("#editor-preview strong")).to_have_count(0)


HOSTILE = (
    "<script>alert('script')</script>\n\n"
    "<img src=x onerror=alert('img')>\n\n"
    "[click](javascript:alert('link')) [again](JaVaScRiPt:alert('case'))\n\n"
    "[entity](&#106;avascript:alert('entity'))\n\n"
    "<iframe src=\"javascript:alert('frame')\"></iframe><svg onload=alert('svg')>\n\n"
    "![x](x\" onerror=\"alert('alt'))"
)


# Whatever in an element could run script: inline handlers and javascript: URLs.
RUNNABLE = """root => [...root.querySelectorAll('*')].flatMap((element) =>
    [...element.attributes]
        .filter((a) => a.name.startsWith('on') || /^\\s*javascript:/i.test(a.value))
        .map((a) => `${element.tagName} ${a.name}=${a.value}`))"""


def test_a_hostile_post_runs_nothing(page: Page, api) -> None:
    opened = fail_on_dialog(page)
    user = make_account(api)
    post = create_post(api, user, "Hostile", HOSTILE)
    for path in (f"/posts/{post['id']}", "/", f"/users/{user.id}/posts"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    page.goto(f"/posts/{post['id']}")
    content = page.locator("#post-content")
    expect(content).to_contain_text("<script>alert('script')</script>")  # shown as text
    expect(content.locator("script, img, iframe, svg")).to_have_count(0)
    for link in content.locator("a").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript")
    assert content.evaluate(RUNNABLE) == []
    # The preview of the same text runs nothing either.
    sign_in(page, user)
    page.goto("/write")
    page.get_by_label("Content", exact=True).fill(HOSTILE)
    area = page.locator("#editor-preview")  # side by side: it follows the text
    expect(area).to_contain_text("<img src=x onerror=alert('img')>")
    expect(area.locator("script, img, iframe, svg")).to_have_count(0)
    # Nothing is left that could ever fire: no element that runs script (above), no
    # inline handler, no javascript: link; so no dialog can still be on its way.
    assert area.evaluate(RUNNABLE) == []
    assert opened == []
