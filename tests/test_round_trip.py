"""Export an account, import the zip into a fresh Inkwell (a database of its own): the
same posts come back, with their titles, content, tags, dates, summaries, slugs and
images (issue 27's round trip)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.databases import fresh_database
from tests.helpers import Account, create_post, make_account, png
from tests.test_export import EXPORT, PLAIN
from tests.test_import import imported, my_posts
from tests.test_media import name_of, uploaded

KEPT = ("title", "content", "tags", "summary", "slug", "status")


@pytest.fixture
def other_site(make_app, tmp_path) -> Iterator[TestClient]:
    """A second Inkwell, on a fresh database of its own."""
    (tmp_path / "other").mkdir()
    with (
        fresh_database(tmp_path / "other", migrated=True) as url,
        TestClient(make_app(database_url=url), base_url="https://testserver") as client,
    ):
        yield client


def to_the_second(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(microsecond=0)


def full_posts(client: TestClient, account: Account) -> dict[str, dict]:
    """The account's posts by title, each read whole (the list answers excerpts)."""
    posts = {}
    for title, listed in my_posts(client, account).items():
        answer = client.get(f"/api/posts/{listed['id']}", headers=account.headers)
        assert answer.status_code == 200, answer.text
        posts[title] = answer.json()
    return posts


def test_an_export_imported_elsewhere_gives_the_same_posts(client, other_site) -> None:
    alice = make_account(client, "Alice")
    image = uploaded(client, alice.headers, png(40, 30))
    create_post(
        client,
        alice,
        "With a picture",
        f"Look:\n\n![a square]({image['url']})\n\nThe end.",
        tags=["photos", "web"],
        summary="A picture post",
    )
    create_post(client, alice, "Plain words", "Just *words*, and `code`.", tags=["words"])
    create_post(client, alice, "Not yet", "A draft's text", status="draft")
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    create_post(client, alice, "Later", "Scheduled", publish_at=later.isoformat())

    answer = client.get(EXPORT, headers=alice.headers | PLAIN)
    assert answer.status_code == 200, answer.text
    before = full_posts(client, alice)

    newcomer = make_account(other_site, "Alice Elsewhere", "alice@elsewhere.example")
    result = imported(other_site, newcomer, answer.content, "export.zip", publish=True)
    assert result["imported"] == 4, result
    assert all(item["file"] in ("account.json", "comments.json") for item in result["skipped"])
    after = full_posts(other_site, newcomer)

    assert set(after) == set(before)
    for title, old in before.items():
        new = after[title]
        # The image's address too: it names the image by its bytes, stored again there.
        assert {f: new[f] for f in KEPT} == {f: old[f] for f in KEPT}, title
        # Dates travel to the second (the front matter's precision).
        assert to_the_second(new["date_posted"]) == to_the_second(old["date_posted"]), title
    assert other_site.get(f"/media/images/{name_of(image)}").status_code == 200
