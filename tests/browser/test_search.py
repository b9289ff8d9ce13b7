"""Searching from the header on any page, with and without JavaScript: the field is a
plain GET form, results come with their words marked, "More results" pages on."""

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers import create_post, make_account, unique

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def word(live_server: str) -> str:
    """A word only this module's posts use: 12 posts with it in the text, one in the title."""
    import httpx

    found = unique("kestrel").replace("-", "").replace("_", "")
    with httpx.Client(base_url=live_server, timeout=10) as api:
        user = make_account(api)
        for n in range(12):
            create_post(api, user, f"Bird notes {n}", f"Seen today: a {found} <b>hovering</b>.")
        create_post(api, user, f"The {found}", "All about it.")
    return found


def search_from_the_header(page: Page, query: str) -> None:
    field = page.get_by_role("searchbox", name="Search posts").first
    field.fill(query)
    field.press("Enter")


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without"])
def test_searching_from_the_header(browser: Browser, live_server: str, word, javascript) -> None:
    context = browser.new_context(base_url=live_server, java_script_enabled=javascript)
    try:
        page = context.new_page()
        page.goto("/")
        search_from_the_header(page, word)
        expect(page).to_have_url(f"{live_server}/search?q={word}")
        cards = page.locator("#post-list > .search-result")
        expect(cards).to_have_count(10)
        # A title match ranks first; the snippet's markup is <mark> only.
        expect(cards.first.locator(".post-title")).to_have_text(f"The {word}")
        expect(cards.nth(1).locator(".search-snippet mark")).to_have_text(word)
        expect(cards.nth(1).locator(".search-snippet")).to_contain_text("<b>hovering</b>")
        expect(page.locator("#search-page-input")).to_have_value(word)
        if javascript:
            page.get_by_role("button", name="Load more").click()
            expect(cards).to_have_count(13)
        else:
            page.get_by_role("link", name="More results").click()
            expect(cards).to_have_count(3)
        expect(page.get_by_role("link", name="More results")).to_have_count(0)
        search_from_the_header(page, f"{word} -hovering -all")
        expect(page.locator("#post-list-empty")).to_contain_text("No posts match")
    finally:
        context.close()


def test_the_search_field_is_usable_on_a_phone(page: Page, word) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    field = page.get_by_role("searchbox", name="Search posts").first
    expect(field).to_be_visible()
    assert field.evaluate("el => el.getBoundingClientRect().width") > 200
    search_from_the_header(page, f'"the {word}"')
    expect(page.locator("#post-list > .search-result")).to_have_count(1)
