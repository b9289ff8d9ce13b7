"""Tags in the browser: a chip on a card leads to the tag's page, with its posts."""

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import create_post, make_account

pytestmark = pytest.mark.browser


def test_a_tag_chip_on_a_card_leads_to_its_page(page: Page, api) -> None:
    author = make_account(api)
    tagged = create_post(api, author, "Tagged post", tags=["Chip Test", "other"])
    create_post(api, author, "Untagged post")
    page.goto("/")
    card = page.locator(f'.post-card[data-post-id="{tagged["id"]}"]')
    card.get_by_role("link", name="#chip-test").click()
    expect(page).to_have_url(f"{api.base_url}/tags/chip-test".replace("//tags", "/tags"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("chip-test")
    expect(page.locator(".post-card")).to_have_count(1)
    expect(page.locator(".post-card .post-title")).to_have_text("Tagged post")
