"""Long listings a page at a time: "Load more" in place, "Older posts" without
JavaScript, and Back returning to the same posts."""

import re
import secrets
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import Account, create_post, make_account, sign_in, wait_in_page

pytestmark = pytest.mark.browser

PAGE_SIZE = 10  # the default PAGE_SIZE


def author_with_posts(api: httpx.Client, count: int) -> tuple[Account, list[int]]:
    """A new author and their `count` posts' ids, newest first."""
    author = make_account(api)
    ids = [create_post(api, author, f"Post {n}", f"Text {n}")["id"] for n in range(count)]
    return author, ids[::-1]


def card_ids(page: Page) -> list[int]:
    return [
        int(i)
        for i in page.locator("#post-list > .post-card").evaluate_all(
            "cards => cards.map(card => card.dataset.postId)"
        )
    ]


def test_load_more_appends_the_next_page_in_place(page: Page, api) -> None:
    author, ids = author_with_posts(api, 2 * PAGE_SIZE + 5)
    page.goto(f"/users/{author.id}/posts")
    assert card_ids(page) == ids[:PAGE_SIZE]
    load_more = page.get_by_role("button", name="Load more")
    expect(load_more).to_be_visible()
    load_more.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")

    load_more.click()
    expect(page.locator("#post-list > .post-card")).to_have_count(2 * PAGE_SIZE)
    assert card_ids(page) == ids[: 2 * PAGE_SIZE]
    # Reading carries on from the first new post, and the page did not jump.
    first_new = page.locator(f'.post-card[data-post-id="{ids[PAGE_SIZE]}"] .post-title a')
    expect(first_new).to_be_focused()
    assert page.evaluate("window.scrollY") == scrolled
    # New cards get the same treatment as the first page's (dates in local time).
    expect(page.locator(f'.post-card[data-post-id="{ids[PAGE_SIZE]}"] time')).to_have_attribute(
        "title", re.compile(r"\d")
    )

    load_more.click()
    expect(page.locator("#post-list > .post-card")).to_have_count(len(ids))
    assert card_ids(page) == ids
    # The end: nothing more to load, and focus is not lost with the button.
    expect(load_more).to_have_count(0)
    expect(page.get_by_role("link", name="Older posts")).to_have_count(0)
    expect(
        page.locator(f'.post-card[data-post-id="{ids[2 * PAGE_SIZE]}"] .post-title a')
    ).to_be_focused()


def test_posts_written_meanwhile_are_not_shown_twice(page: Page, api) -> None:
    """The home page: the next page starts where the shown one ended, however many
    posts were written since it was rendered."""
    author, _ = author_with_posts(api, PAGE_SIZE + 3)
    page.goto("/")
    shown = card_ids(page)
    for n in range(3):
        create_post(api, author, f"Meanwhile {n}", "Written after the page was loaded")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#post-list > .post-card")).to_have_count(2 * PAGE_SIZE)
    everything = [p["id"] for p in api.get("/api/posts", params={"limit": 100}).json()["items"]]
    assert card_ids(page) == [i for i in everything if i <= shown[0]][: 2 * PAGE_SIZE]


def test_back_from_a_post_returns_to_the_same_place(page: Page, api) -> None:
    author, ids = author_with_posts(api, 3 * PAGE_SIZE)
    page.goto(f"/users/{author.id}/posts")
    load_more = page.get_by_role("button", name="Load more")
    load_more.click()
    expect(page.locator("#post-list > .post-card")).to_have_count(2 * PAGE_SIZE)
    load_more.click()
    expect(page.locator("#post-list > .post-card")).to_have_count(3 * PAGE_SIZE)

    # Reading the third page: the address names it.
    target = ids[2 * PAGE_SIZE + 1]
    card = page.locator(f'.post-card[data-post-id="{target}"]')
    card.evaluate("card => card.scrollIntoView({block: 'start'})")
    expect(page).to_have_url(re.compile(r"\?cursor="))
    # The place is written down once scrolling settles: the third page, and how far
    # into it the reader is.
    wait_in_page(
        page,
        """id => {
            const start = document.querySelector(`.post-card[data-post-id="${id}"]`);
            return location.pathname + location.search === start.dataset.pageUrl
                && history.state?.pageOffset === Math.round(-start.getBoundingClientRect().top);
        }""",
        ids[2 * PAGE_SIZE],
    )
    top_before = card.evaluate("card => Math.round(card.getBoundingClientRect().top)")

    card.locator(".post-title a").click()
    expect(page).to_have_url(re.compile(rf"/posts/{target}/[^/]+$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"\?cursor="))
    card = page.locator(f'.post-card[data-post-id="{target}"]')
    expect(card).to_be_in_viewport()
    top_after = card.evaluate("card => Math.round(card.getBoundingClientRect().top)")
    assert abs(top_after - top_before) <= 2
    # The page that address names: the third page, newest link on top.
    assert card_ids(page)[0] == ids[2 * PAGE_SIZE]
    expect(page.get_by_role("link", name="Newest posts")).to_be_visible()


def test_a_failed_load_says_so_and_can_be_retried(page: Page, api, console: ConsoleWatch) -> None:
    console.allow(r"Failed to load resource|ERR_INTERNET_DISCONNECTED|ERR_FAILED")
    author, ids = author_with_posts(api, PAGE_SIZE + 2)
    page.goto(f"/users/{author.id}/posts")
    next_page = re.compile(r"\?cursor=")
    page.route(next_page, lambda route: route.abort("internetdisconnected"))
    load_more = page.get_by_role("button", name="Load more")
    load_more.click()
    expect(page.get_by_role("alert")).to_contain_text("Could not reach the server")
    expect(load_more).to_be_enabled()
    assert card_ids(page) == ids[:PAGE_SIZE]

    page.unroute(next_page)
    load_more.click()
    expect(page.locator("#post-list > .post-card")).to_have_count(len(ids))
    expect(page.locator("#load-more-error")).to_have_count(0)


def test_without_javascript_older_posts_is_a_plain_link(
    browser: Browser, live_server: str, api
) -> None:
    author, ids = author_with_posts(api, PAGE_SIZE + 4)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"/users/{author.id}/posts")
        expect(page.get_by_role("button", name="Load more")).to_be_hidden()
        assert card_ids(page) == ids[:PAGE_SIZE]
        page.get_by_role("link", name="Older posts").click()
        expect(page).to_have_url(re.compile(r"\?cursor="))
        assert card_ids(page) == ids[PAGE_SIZE:]
        expect(page.get_by_role("link", name="Older posts")).to_have_count(0)
    finally:
        context.close()


def test_pages_without_more_posts_have_no_pager(new_page: Callable[[], Page], api) -> None:
    author, ids = author_with_posts(api, 3)
    page = new_page()
    page.goto(f"/users/{author.id}/posts")
    assert card_ids(page) == ids
    expect(page.locator("#pager")).to_have_count(0)


def test_load_more_works_the_same_signed_in(page: Page, api) -> None:
    author, ids = author_with_posts(api, PAGE_SIZE + 3)
    sign_in(page, author)
    page.goto(f"/users/{author.id}/posts")
    expect(page.locator("#nav-username")).to_have_text(author.username)
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#post-list > .post-card")).to_have_count(len(ids))
    assert card_ids(page) == ids
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)


def test_load_more_on_a_tag_page_brings_only_the_tags_posts(page: Page, api) -> None:
    """A tag page pages through its own posts (the tag's index, not the home page's),
    untagged posts between them never showing up."""
    author = make_account(api)
    tag = f"kites-{secrets.token_hex(3)}"
    tagged = []
    for n in range(PAGE_SIZE + 4):
        tagged.append(create_post(api, author, f"Kite {n}", "Up it goes.", tags=[tag])["id"])
        create_post(api, author, f"Not a kite {n}", "Down here.")
    page.goto(f"/tags/{tag}")
    assert card_ids(page) == tagged[::-1][:PAGE_SIZE]
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("#post-list > .post-card")).to_have_count(len(tagged))
    assert card_ids(page) == tagged[::-1]
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(page.locator(f'.post-card[data-post-id="{tagged[3]}"] .post-title a')).to_be_focused()
