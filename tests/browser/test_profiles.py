"""An author's bio and website, from the account page to the author page; moving from
post to post; and the post page's JSON-LD beside a CSP that still refuses inline script."""

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import create_post, make_account, sign_in

pytestmark = pytest.mark.browser


def test_the_bio_edited_on_the_account_page_shows_on_the_author_page(
    page: Page, api, console
) -> None:
    console.allow(r"status of 422 .*/api/users/\d+$")  # the javascript: address, on purpose
    user = make_account(api)
    sign_in(page, user)
    page.goto(f"/users/{user.id}/posts")  # cached before the edit
    expect(page.locator("#user-bio")).to_have_count(0)

    page.goto("/account")
    bio = page.get_by_label("Bio")
    expect(bio).to_have_value("")
    bio.fill("Gardens and code.\nMostly gardens.")
    page.get_by_label("Website").fill("javascript:alert(1)")
    page.get_by_role("button", name="Save profile").click()
    # The browser's own check (type=url) lets this through; the API refuses it.
    website = page.get_by_label("Website")
    expect(website).to_have_attribute("aria-invalid", "true")
    website.fill("https://gardens.example/")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    page.reload()
    expect(page.get_by_label("Bio")).to_have_value("Gardens and code.\nMostly gardens.")

    page.goto(f"/users/{user.id}/posts")
    expect(page.locator("#user-bio")).to_have_text("Gardens and code.\nMostly gardens.")
    link = page.get_by_role("link", name="https://gardens.example/")
    expect(link).to_have_attribute("rel", "nofollow ugc me")
    expect(link).to_have_attribute("href", "https://gardens.example/")

    page.goto("/account")
    page.get_by_label("Bio").fill("")
    page.get_by_label("Website").fill("")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    page.goto(f"/users/{user.id}/posts")
    expect(page.locator("#user-bio")).to_have_count(0)
    expect(page.locator("#user-website")).to_have_count(0)


def test_previous_and_next_lead_from_post_to_post(page: Page, api) -> None:
    user = make_account(api)
    first = create_post(api, user, "The first of three")
    create_post(api, user, "A draft, skipped", "Not yet", status="draft")
    second = create_post(api, user, "The second of three")
    third = create_post(api, user, "The third of three")

    page.goto(second["url"])
    nav = page.get_by_role("navigation", name="More posts")
    nav.get_by_role("link", name="Next post The third of three").click()
    expect(page).to_have_url(f"{page.url.split('/posts/')[0]}{third['url']}")
    expect(page.get_by_role("link", name="Next post", exact=False)).to_have_count(0)
    nav.get_by_role("link", name="Previous post The second of three").click()
    nav.get_by_role("link", name="Previous post The first of three").click()
    expect(page.locator("#post-title")).to_have_text(first["title"])
    expect(page.get_by_role("link", name="Previous post", exact=False)).to_have_count(0)
    nav.get_by_role("link", name=f"More by {user.username}").click()
    expect(page.locator("#user-name")).to_have_text(user.username)


def test_json_ld_is_present_and_inline_script_still_refused(page: Page, api, console) -> None:
    console.allow(r"Content Security Policy")  # the refusal this test provokes
    user = make_account(api)
    post = create_post(api, user, "</script><script>window.pwned = 1</script>")
    page.goto(post["url"])
    data = page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)"
    )
    assert data["@type"] == "BlogPosting"
    assert data["headline"] == post["title"]
    ran = page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.head.append(script);
          return window.inlineRan === true || window.pwned === 1;
        }"""
    )
    assert ran is False
    expect(page.locator("#post-title")).to_have_text(post["title"])
