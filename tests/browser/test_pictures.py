"""The account page's picture section in Chromium: choose, preview, upload, see it in
the navbar and on posts, remove; and a refused file explained inline."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import create_post, make_account, sign_in

pytestmark = pytest.mark.browser


def png(color: str, size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def test_upload_preview_see_it_everywhere_then_remove(page: Page, api) -> None:
    user = make_account(api)
    post = create_post(api, user, "With a face", "Hello")
    sign_in(page, user)
    page.goto("/account")
    section = page.get_by_role("region", name="Picture")
    remove = section.get_by_role("button", name="Remove picture")
    expect(remove).to_be_hidden()

    section.get_by_label("Choose a picture").set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": png("teal")}]
    )
    expect(section.get_by_role("img", name="How the chosen picture will look")).to_be_visible()
    section.get_by_role("button", name="Upload picture").click()
    expect(section.get_by_role("status")).to_have_text("Picture saved.")
    current = section.get_by_role("img", name="Your current picture")
    expect(current).to_have_attribute("src", re.compile(r"^/media/pictures/\w+\.webp$"))
    path = current.get_attribute("src")
    expect(page.locator("#nav-avatar")).to_have_attribute("src", path)
    expect(page.locator("#nav-avatar")).to_be_visible()
    expect(page.locator("#account-avatar")).to_have_attribute("src", path)

    page.goto(f"/posts/{post['id']}")
    expect(page.locator(f'img.avatar[src="{path}"]').first).to_be_visible()
    page.goto(f"/users/{user.id}/posts")
    expect(page.locator(f'img.avatar-lg[src="{path}"]')).to_be_visible()

    page.goto("/account")
    page.get_by_role("button", name="Remove picture").click()
    expect(page.get_by_role("status").filter(has_text="Picture removed.")).to_be_visible()
    expect(page.locator("#picture-current")).to_have_attribute("src", re.compile(r"default\.svg"))
    expect(page.locator("#nav-avatar")).to_be_hidden()


def test_a_file_that_is_not_a_picture_is_explained_inline(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 415")
    user = make_account(api)
    sign_in(page, user)
    page.goto("/account")
    page.get_by_label("Choose a picture").set_input_files(
        files=[
            {"name": "me.png", "mimeType": "image/png", "buffer": b"<svg><script>1</script></svg>"}
        ]
    )
    expect(page.locator("#picture-preview")).to_be_hidden()
    page.get_by_role("button", name="Upload picture").click()
    expect(page.locator("#picture-error")).to_have_text(
        "The file is not a JPEG, PNG, WebP or GIF picture"
    )
    expect(page.locator("#picture-current")).to_have_attribute("src", re.compile(r"default\.svg"))
