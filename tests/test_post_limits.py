"""How many posts an account creates an hour and how many previews it asks for a
minute (POSTS_PER_HOUR, PREVIEWS_PER_MINUTE): 429 with `Retry-After` and a code of its
own past either, nothing created, other accounts untouched. (The suite raises both
limits in conftest.py; these tests set them back.)"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config import Settings
from models import Post, RateLimitHit, utcnow
from tests.helpers import create_post, run_sql, scalar

PREVIEW = "/api/posts/preview"


def posts_of(client, account) -> int:
    return scalar(client, select(func.count()).select_from(Post).where(Post.user_id == account.id))


def assert_limited(response, code: str, window_seconds: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == code
    assert 1 <= int(response.headers["Retry-After"]) <= window_seconds


def test_the_defaults():
    defaults = Settings.model_fields
    assert defaults["posts_per_hour"].default == 30
    assert defaults["previews_per_minute"].default == 60


@pytest.mark.settings(posts_per_hour=2)
def test_posts_past_the_hours_limit_are_refused_and_not_created(client, alice, bob):
    create_post(client, alice, "One")
    create_post(client, alice, "Two", status="draft")  # drafts count too
    refused = client.post(
        "/api/posts", json={"title": "Three", "content": "x"}, headers=alice.headers
    )
    assert_limited(refused, "post_limit", 3600)
    assert "2 new posts an hour" in refused.json()["detail"]
    assert posts_of(client, alice) == 2
    create_post(client, bob, "Bob's")  # per account
    assert posts_of(client, bob) == 1


@pytest.mark.settings(posts_per_hour=1)
def test_a_post_that_is_refused_for_another_reason_is_not_counted(client, alice):
    conflict = client.post(
        "/api/posts",
        json={
            "title": "Both",
            "content": "x",
            "status": "draft",
            "publish_at": "2099-01-01T00:00:00Z",
        },
        headers=alice.headers,
    )
    assert conflict.status_code == 422
    create_post(client, alice, "Counted")
    assert_limited(
        client.post("/api/posts", json={"title": "No", "content": "x"}, headers=alice.headers),
        "post_limit",
        3600,
    )


@pytest.mark.settings(posts_per_hour=1)
def test_the_limit_lifts_once_the_hour_has_passed(client, alice):
    create_post(client, alice, "One")
    refused = client.post(
        "/api/posts", json={"title": "Two", "content": "x"}, headers=alice.headers
    )
    assert refused.status_code == 429
    # The use an hour and a second old: out of the window.
    earlier = utcnow() - timedelta(hours=1, seconds=1)
    run_sql(client, update(RateLimitHit).values(at=earlier))
    create_post(client, alice, "Two")
    assert posts_of(client, alice) == 2


@pytest.mark.settings(previews_per_minute=2)
def test_previews_past_the_minutes_limit_are_refused(client, alice, bob):
    for _ in range(2):
        response = client.post(PREVIEW, json={"content": "*hi*"}, headers=alice.headers)
        assert response.status_code == 200
        assert "<em>hi</em>" in response.json()["html"]
    refused = client.post(PREVIEW, json={"content": "*hi*"}, headers=alice.headers)
    assert_limited(refused, "preview_limit", 60)
    assert "2 previews a minute" in refused.json()["detail"]
    assert client.post(PREVIEW, json={"content": "x"}, headers=bob.headers).status_code == 200
    # Previews and posts are budgets apart.
    create_post(client, alice, "Still fine")


def test_previews_need_a_token(client):
    assert client.post(PREVIEW, json={"content": "x"}).status_code == 401
