"""Posts' life cycle: drafts and scheduled posts exist for their author alone, a
scheduled post goes live by itself with every cached page fresh, addresses carry a
slug that stays put, and a change after publication shows."""

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from content.slugs import FALLBACK_SLUG, SLUG_MAX, slugify
from models import Post
from tests.helpers import create_post, run_sql, scalar

DRAFT = {"status": "draft"}


def later(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def listed_ids(client, path: str = "/api/posts", headers=None) -> list[int]:
    return [post["id"] for post in client.get(path, headers=headers).json()["items"]]


def test_a_new_post_is_published_by_default_with_the_new_fields(client, alice):
    post = create_post(client, alice, "Hello, World!", "word " * 500)
    assert post["status"] == "published"
    assert post["slug"] == "hello-world"
    assert post["url"] == f"/posts/{post['id']}/hello-world"
    assert post["summary"] is None
    assert post["updated_at"] is None
    assert post["reading_minutes"] == 3  # 500 words at 230 a minute, rounded up
    assert post["date_posted"] is not None
    assert create_post(client, alice, "Short", "Two words")["reading_minutes"] == 1


def test_a_draft_is_its_authors_alone(client, alice, bob):
    draft = create_post(client, alice, "Secret plans", "Not yet", **DRAFT)
    assert (draft["status"], draft["date_posted"]) == ("draft", None)
    url = f"/api/posts/{draft['id']}"
    assert client.get(url, headers=alice.headers).json() == draft
    for headers in (None, bob.headers):
        answer = client.get(url, headers=headers)
        assert (answer.status_code, answer.json()["code"]) == (404, "post_not_found")
    # Bob cannot learn it exists by trying to change it either: 404, not 403.
    for method in ("patch", "delete"):
        kwargs = {"json": {"title": "Mine"}} if method == "patch" else {}
        answer = getattr(client, method)(url, headers=bob.headers, **kwargs)
        assert answer.status_code == 404
    # Nowhere public.
    assert draft["id"] not in listed_ids(client)
    assert draft["id"] not in listed_ids(client, f"/api/users/{alice.id}/posts")
    for path in ("/", f"/users/{alice.id}/posts", "/feed.xml", f"/users/{alice.id}/feed.xml"):
        assert "Secret plans" not in client.get(path).text
    assert client.get(f"/posts/{draft['id']}").status_code == 404
    assert client.get(f"/posts/{draft['id']}/secret-plans").status_code == 404
    # Not counted on the author's page.
    assert "0 posts" in client.get(f"/users/{alice.id}/posts").text


def test_publishing_a_draft_dates_it_now_and_unpublishing_takes_it_off(client, alice):
    draft = create_post(client, alice, "Later", "Text", **DRAFT)
    url = f"/api/posts/{draft['id']}"
    before = datetime.now(UTC)
    published = client.patch(url, json={"status": "published"}, headers=alice.headers).json()
    assert published["status"] == "published"
    assert datetime.fromisoformat(published["date_posted"]) >= before - timedelta(seconds=1)
    assert published["updated_at"] is None
    assert draft["id"] in listed_ids(client)
    assert "Later" in client.get("/").text

    back = client.patch(url, json={"status": "draft"}, headers=alice.headers).json()
    assert (back["status"], back["date_posted"]) == ("draft", None)
    assert draft["id"] not in listed_ids(client)
    assert "Later" not in client.get("/").text
    assert client.get(url).status_code == 404


def test_a_change_after_publication_shows_as_an_update(client, alice):
    post = create_post(client, alice, "Original", "First version")
    url = f"/api/posts/{post['id']}"
    # Sending the same text is no change (nor is clearing a summary there was none of).
    same = client.patch(url, json={"title": "Original", "summary": ""}, headers=alice.headers)
    assert same.json()["updated_at"] is None
    changed = client.patch(url, json={"content": "Second version"}, headers=alice.headers).json()
    assert changed["updated_at"] is not None
    assert changed["date_posted"] == post["date_posted"]
    page = client.get(changed["url"]).text
    assert "Updated" in page
    assert changed["updated_at"][:10] in page
    # Edits of a draft are not updates: it was never on the site.
    draft = create_post(client, alice, "Draft", "v1", **DRAFT)
    edited = client.patch(
        f"/api/posts/{draft['id']}", json={"content": "v2"}, headers=alice.headers
    ).json()
    assert edited["updated_at"] is None


def test_summary_is_shown_on_cards_and_can_be_cleared(client, alice):
    post = create_post(client, alice, "With summary", "The body " * 50, summary="In short: yes.")
    assert post["summary"] == "In short: yes."
    home = client.get("/").text
    assert "In short: yes." in home
    assert "The body The body" not in home
    url = f"/api/posts/{post['id']}"
    cleared = client.patch(url, json={"summary": ""}, headers=alice.headers).json()
    assert cleared["summary"] is None
    assert "The body The body" in client.get("/").text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "scheduled"}, "status"),
        ({"status": "archived"}, "status"),
        ({"publish_at": "2020-01-01T00:00:00Z"}, "publish_at"),
        ({"publish_at": "2999-01-01T00:00:00"}, "publish_at"),  # naive
        ({"publish_at": "tomorrow"}, "publish_at"),
        ({"summary": "x" * 301}, "summary"),
        ({"summary": "two\nlines"}, "summary"),
    ],
)
def test_bad_life_cycle_input_is_a_422_naming_the_field(client, alice, body, field):
    answer = client.post(
        "/api/posts", json={"title": "T", "content": "C"} | body, headers=alice.headers
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "validation_error"
    assert answer.json()["detail"][0]["loc"][-1] == field
    post = create_post(client, alice)
    patched = client.patch(f"/api/posts/{post['id']}", json=body, headers=alice.headers)
    assert patched.status_code == 422
    assert client.get(f"/api/posts/{post['id']}").json() == post  # nothing half-written
    assert listed_ids(client) == [post["id"]]


def test_a_draft_cannot_be_scheduled_at_the_same_time(client, alice):
    body = {"title": "T", "content": "C", "status": "draft", "publish_at": later()}
    answer = client.post("/api/posts", json=body, headers=alice.headers)
    assert (answer.status_code, answer.json()["code"]) == (422, "schedule_conflict")
    assert listed_ids(client, "/api/users/me/posts", alice.headers) == []


def test_the_author_lists_their_own_posts_last_changed_first(client, alice, bob):
    old = create_post(client, alice, "Old", "x")
    draft = create_post(client, alice, "Draft", "x", **DRAFT)
    scheduled = create_post(client, alice, "Soon", "x", publish_at=later())
    create_post(client, bob, "Bob's", "x", **DRAFT)
    mine = "/api/users/me/posts"
    assert listed_ids(client, mine, alice.headers) == [scheduled["id"], draft["id"], old["id"]]
    client.patch(f"/api/posts/{old['id']}", json={"title": "Old, again"}, headers=alice.headers)
    assert listed_ids(client, mine, alice.headers) == [old["id"], scheduled["id"], draft["id"]]
    for status, expected in (("draft", draft), ("scheduled", scheduled), ("published", old)):
        assert listed_ids(client, f"{mine}?status={status}", alice.headers) == [expected["id"]]
    assert client.get(f"{mine}?status=gone", headers=alice.headers).status_code == 422
    assert client.get(mine).status_code == 401

    # Keyset pages, one at a time, in the same order.
    seen, cursor = [], None
    while True:
        query = f"{mine}?limit=1" + (f"&cursor={quote(cursor)}" if cursor else "")
        page = client.get(query, headers=alice.headers).json()
        seen += [post["id"] for post in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [old["id"], scheduled["id"], draft["id"]]


def test_a_scheduled_post_waits_for_its_time(client, alice, bob):
    at = later()
    post = create_post(client, alice, "Tomorrow", "x", publish_at=at)
    assert post["status"] == "scheduled"
    assert datetime.fromisoformat(post["date_posted"]) == datetime.fromisoformat(at)
    assert client.get(f"/api/posts/{post['id']}").status_code == 404
    assert client.get(f"/api/posts/{post['id']}", headers=bob.headers).status_code == 404
    assert post["id"] not in listed_ids(client)
    # Rescheduled, then published at once instead.
    url = f"/api/posts/{post['id']}"
    moved = client.patch(url, json={"publish_at": later(7200)}, headers=alice.headers).json()
    assert (moved["status"], moved["date_posted"] > post["date_posted"]) == ("scheduled", True)
    now = client.patch(url, json={"status": "published"}, headers=alice.headers).json()
    assert now["status"] == "published"
    assert datetime.fromisoformat(now["date_posted"]) <= datetime.now(UTC)


@pytest.mark.settings(publish_check_seconds=0.2)
def test_a_scheduled_post_goes_live_by_itself_with_the_cache_fresh(client, alice):
    before = client.get("/")
    etag = before.headers["ETag"]
    feed_before = client.get("/feed.xml").text
    post = create_post(client, alice, "Right on time", "x", publish_at=later(1.5))
    # A scheduled post changes nothing anyone sees: the pages keep their tag.
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    deadline = time.monotonic() + 10
    while post["id"] not in listed_ids(client):
        assert time.monotonic() < deadline, "the scheduled post never went live"
        time.sleep(0.1)
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 200
    assert "Right on time" in client.get("/").text
    assert "Right on time" in client.get(f"/users/{alice.id}/posts").text
    assert "Right on time" not in feed_before
    assert "Right on time" in client.get("/feed.xml").text
    assert "Right on time" in client.get(f"/users/{alice.id}/feed.xml").text
    live = client.get(f"/api/posts/{post['id']}").json()
    assert live["status"] == "published"
    assert live["date_posted"] == post["date_posted"]  # the planned time


def test_autosaving_a_draft_leaves_every_cached_page_as_it_was(client, alice):
    create_post(client, alice, "Public", "x")
    etag = client.get("/").headers["ETag"]
    draft = create_post(client, alice, "Draft", "v1", **DRAFT)
    for n in range(3):
        client.patch(f"/api/posts/{draft['id']}", json={"content": f"v{n}"}, headers=alice.headers)
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_addresses_carry_a_slug_and_others_redirect_there(client, alice):
    post = create_post(client, alice, "Mind the gap", "x")
    canonical = f"/posts/{post['id']}/mind-the-gap"
    assert post["url"] == canonical
    page = client.get(canonical)
    assert page.status_code == 200
    assert f'rel="canonical" href="https://testserver{canonical}"' in page.text
    for old in (f"/posts/{post['id']}", f"/posts/{post['id']}/wrong", f"/posts/{post['id']}/mind"):
        answer = client.get(old, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (301, canonical)
    # The home page links to the canonical address.
    assert f'href="{canonical}"' in client.get("/").text


def test_the_slug_stays_when_the_title_changes_unless_the_author_edits_it(client, alice):
    post = create_post(client, alice, "First title", "x")
    url = f"/api/posts/{post['id']}"
    renamed = client.patch(url, json={"title": "Second title"}, headers=alice.headers).json()
    assert renamed["slug"] == "first-title"
    edited = client.patch(url, json={"slug": "A Better Slug!"}, headers=alice.headers).json()
    assert (edited["slug"], edited["url"]) == (
        "a-better-slug",
        f"/posts/{post['id']}/a-better-slug",
    )
    old = client.get(f"/posts/{post['id']}/first-title", follow_redirects=False)
    assert old.headers["location"] == edited["url"]
    empty = client.patch(url, json={"slug": "!!! ???"}, headers=alice.headers)
    assert (empty.status_code, empty.json()["code"]) == (422, "invalid_slug")
    assert client.get(url).json()["slug"] == "a-better-slug"


def test_a_drafts_slug_follows_its_title_until_it_is_published(client, alice):
    draft = create_post(client, alice, "Working title", "x", **DRAFT)
    url = f"/api/posts/{draft['id']}"
    assert draft["slug"] == "working-title"
    renamed = client.patch(url, json={"title": "Final title"}, headers=alice.headers).json()
    assert renamed["slug"] == "final-title"
    client.patch(url, json={"status": "published"}, headers=alice.headers)
    again = client.patch(url, json={"title": "Changed later"}, headers=alice.headers).json()
    assert again["slug"] == "final-title"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Spaces   and --- dashes  ", "spaces-and-dashes"),
        ("Привет, мир", "привет-мир"),
        ("日本語のタイトル", "日本語のタイトル"),
        ("Straße", "strasse"),
        ("Café crème", "café-crème"),
        ("!!!", ""),
        ("🎉🎉", ""),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("under_score", "under-score"),
        ("Edit", "edit-post"),  # /posts/{id}/edit is the editor
        ("Edit this", "edit-this"),
    ],
)
def test_slugify(title, slug):
    assert slugify(title) == slug


def test_long_slugs_are_cut_between_words():
    slug = slugify("word " * 40)
    assert len(slug) <= SLUG_MAX
    assert not slug.endswith("-")
    assert slug.startswith("word-word")
    assert slugify("x" * 200) == "x" * SLUG_MAX


def test_a_title_without_letters_gets_a_slug_all_the_same(client, alice):
    post = create_post(client, alice, "🎉", "x")
    assert post["slug"] == FALLBACK_SLUG
    assert client.get(post["url"]).status_code == 200


def test_unicode_slugs_are_percent_encoded_in_urls_and_redirects(client, alice):
    post = create_post(client, alice, "Привет мир", "x")
    assert post["slug"] == "привет-мир"
    assert post["url"] == f"/posts/{post['id']}/" + quote("привет-мир")
    answer = client.get(f"/posts/{post['id']}", follow_redirects=False)
    assert answer.headers["location"] == post["url"]
    assert client.get(post["url"]).status_code == 200


def test_atom_entries_carry_the_update_time_and_keep_their_id(client, alice):
    post = create_post(client, alice, "Feed me", "v1")
    first = client.get("/feed.xml").text
    assert f"<id>https://testserver/posts/{post['id']}</id>" in first
    assert f'href="https://testserver{post["url"]}"' in first
    changed = client.patch(
        f"/api/posts/{post['id']}", json={"content": "v2"}, headers=alice.headers
    ).json()
    feed = client.get("/feed.xml").text
    updated = datetime.fromisoformat(changed["updated_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"<updated>{updated}</updated>" in feed
    assert f"<id>https://testserver/posts/{post['id']}</id>" in feed


def test_the_scheduler_publishes_exactly_the_due_posts(client, alice):
    """The publisher's query, with the clock moved rather than waited for."""
    due = create_post(client, alice, "Due", "x", publish_at=later(60))
    not_due = create_post(client, alice, "Not due", "x", publish_at=later(7200))
    moment = datetime.now(UTC) - timedelta(seconds=1)
    run_sql(client, update(Post).where(Post.id == due["id"]).values(date_posted=moment))

    async def publish() -> None:
        from content.scheduler import Publisher

        pause = await Publisher(client.app_state["sessionmaker"]).publish_due()
        assert 0 < pause <= 2

    client.portal.call(publish)
    statuses = scalar(client, select(Post.status).where(Post.id == due["id"]))
    assert statuses == "published"
    assert scalar(client, select(Post.status).where(Post.id == not_due["id"])) == "scheduled"


def test_a_post_called_edit_has_a_page_of_its_own(client, alice):
    post = create_post(client, alice, "Edit", "x")
    assert post["url"] == f"/posts/{post['id']}/edit-post"
    assert "<h1" in client.get(post["url"]).text
    edited = client.patch(f"/api/posts/{post['id']}", json={"slug": "edit"}, headers=alice.headers)
    assert edited.json()["slug"] == "edit-post"
