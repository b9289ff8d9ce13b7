"""Markdown in the browser: the Write / Preview toggle, a published post shown
rendered, hostile Markdown that never runs, code coloured in both themes and
scrolling inside itself on a phone, task lists, footnotes and deep links."""

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from content import code_highlight
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


# --- Code, task lists, footnotes, deep links ------------------------------------------

CODE_POST = """Some prose first.

```python
def greet(name: str) -> str:
    return f"Hello, {name}"  # a comment
```
"""
COLOURS = """code => {
  const colour = (selector) => getComputedStyle(code.querySelector(selector)).color;
  return { keyword: colour('.k'), comment: colour('.c1'), plain: getComputedStyle(code).color };
}"""


def rgb(hex_colour: str) -> str:
    """A Pygments colour ("A90D91") as the browser computes it ("rgb(169, 13, 145)")."""
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgb({red}, {green}, {blue})"


def pygments_colour(style: str, token: str) -> str:
    from pygments import token as tokens
    from pygments.styles import get_style_by_name

    return rgb(get_style_by_name(style).style_for_token(getattr(tokens, token))["color"])


def test_code_is_coloured_in_the_light_and_the_dark_theme(page: Page, api) -> None:
    post = create_post(api, make_account(api), "Code", CODE_POST)
    colours = {}
    for theme in ("light", "dark"):
        page.goto("/login")
        page.evaluate(f"localStorage.setItem('theme', '{theme}')")
        page.goto(f"/posts/{post['id']}")
        expect(page.locator("html")).to_have_attribute("data-theme", theme)
        code = page.locator("#post-content pre.highlight code")
        expect(code.locator(".k").first).to_have_text("def")
        colours[theme] = code.evaluate(COLOURS)
        assert colours[theme]["keyword"] != colours[theme]["plain"], theme
        assert colours[theme]["comment"] != colours[theme]["plain"], theme
    assert colours["light"]["keyword"] != colours["dark"]["keyword"]
    assert colours["light"]["plain"] != colours["dark"]["plain"]
    # The palettes are Pygments' own (static/css/code.css is generated from them).
    assert colours["light"]["keyword"] == pygments_colour(code_highlight.LIGHT_STYLE, "Keyword")
    assert colours["dark"]["keyword"] == pygments_colour(code_highlight.DARK_STYLE, "Keyword")


LONG_LINE = (
    "```python\nresult = compute(" + ", ".join(f"argument_{n}" for n in range(40)) + ")\n```"
)
PAGE_WIDTH = "document.documentElement.scrollWidth <= window.innerWidth"


def test_a_wide_code_block_scrolls_inside_itself_on_a_phone(browser, live_server, api) -> None:
    post = create_post(api, make_account(api), "Wide code", f"Before.\n\n{LONG_LINE}\n\nAfter.")
    context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"/posts/{post['id']}")
        pre = page.locator("#post-content pre")
        expect(pre).to_be_visible()
        assert page.evaluate(PAGE_WIDTH)  # the page is not widened
        box = pre.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 375
        assert pre.evaluate("el => el.scrollWidth > el.clientWidth")  # the code scrolls
        # The cue: shadows that stay put, covers that move with the code.
        background = pre.evaluate("el => getComputedStyle(el).backgroundAttachment")
        assert "local" in background
        assert "scroll" in background
        # A keyboard scrolls it too: the block takes focus.
        pre.focus()
        expect(pre).to_be_focused()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('#post-content pre').scrollLeft > 0", timeout=2_000
        )
        assert page.evaluate(PAGE_WIDTH)
        assert page.evaluate("window.scrollX") == 0
    finally:
        context.close()


TASKS_AND_NOTES = """# Getting started

- [x] Write the post[^why]
- [ ] Publish it

## Getting started

[^why]: Because writing comes first.
"""


def test_task_lists_footnotes_and_deep_links(page: Page, api) -> None:
    post = create_post(api, make_account(api), "Tasks", TASKS_AND_NOTES)
    page.goto(f"/posts/{post['id']}#getting-started-1")
    content = page.locator("#post-content")
    expect(content.locator("#getting-started-1")).to_be_in_viewport()
    expect(content.locator("h2#getting-started")).to_have_text("Getting started")
    done = content.get_by_role("checkbox", name="Write the post")
    expect(done).to_be_checked()
    expect(done).to_be_disabled()
    todo = content.get_by_role("checkbox", name="Publish it")
    expect(todo).not_to_be_checked()
    expect(todo).to_be_disabled()
    todo.click(force=True)  # a reader cannot tick it
    expect(todo).not_to_be_checked()
    content.locator(".footnote-ref a").click()
    expect(page).to_have_url(re.compile(r"#fn1$"))
    expect(content.locator("#fn1")).to_contain_text("Because writing comes first.")
    content.locator("#fn1 .footnote-backref").click()
    expect(page).to_have_url(re.compile(r"#fnref1$"))
