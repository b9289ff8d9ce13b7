"""The self-hosted Swagger UI: authorize with the password flow, or with a personal
access token, then call /me."""

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import make_account, sign_up

pytestmark = pytest.mark.browser


def test_swagger_authorize_and_read_me(page: Page, api) -> None:
    user = sign_up(api)
    page.goto("/docs")
    page.get_by_role("button", name="Authorize").first.click()
    modal = page.locator(".modal-ux")
    expect(modal).to_be_visible()
    modal.locator("#oauth_username").fill(user.email)
    modal.locator("#oauth_password").fill(user.password)
    modal.get_by_role("button", name="Apply given OAuth2 credentials").click()
    expect(modal.get_by_role("button", name="Remove authorization")).to_be_visible()
    modal.locator(".auth-btn-wrapper .btn-done").first.click()
    expect(modal).to_be_hidden()

    operation = page.locator("#operations-users-read_current_user_api_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(live.locator("tbody .response-col_description")).to_contain_text(user.email)


def test_swagger_authorize_with_a_personal_access_token(page: Page, api) -> None:
    user = make_account(api)
    made = api.post(
        "/api/users/me/tokens",
        json={"name": "swagger", "scopes": ["posts:read"]},
        headers=user.headers,
    )
    assert made.status_code == 201, made.text
    page.goto("/docs")
    page.get_by_role("button", name="Authorize").first.click()
    modal = page.locator(".modal-ux")
    expect(modal).to_contain_text("PersonalAccessToken")
    modal.locator("input[type=text]:not(#oauth_username)").last.fill(made.json()["token"])
    modal.get_by_role("button", name="Apply credentials").click()
    modal.locator(".btn-done").first.click()
    expect(modal).to_be_hidden()

    operation = page.locator("#operations-users-read_current_user_api_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(live.locator("tbody .response-col_description")).to_contain_text(user.email)
