"""Tags: one spelling per tag (content/tags.py), posts carrying them through the API,
the tag's page and feed paged and cached like the home page's, and `GET /api/tags`
counting published posts only."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from sqlalchemy import select, update

from content.scheduler import Publisher
from content.tags import TAG_MAX, TAGS_MAX, normalise_tag, normalise_tags
from models import Post, PostTag
from tests.helpers import create_post, make_account, run_sql
from tests.test_queries import counting_statements

ATOM = "{http://www.w3.org/2005/Atom}"


def later(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# --- Normalisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("Web Dev", "web-dev"),
        ("  web   dev  ", "web-dev"),
        ("WEB--DEV", "web-dev"),
        ("C++ / Rust!", "c-rust"),
        ("Python3", "python3"),
        ("Ünïcödé", "ünïcödé"),
        ("日本語", "日本語"),
        ("Москва 2026", "москва-2026"),
        ("Straße", "strasse"),  # case folding, as slugs do
        ("ＦＵＬＬ　ＷＩＤＴＨ", "full-width"),  # NFKC
        ("x" * TAG_MAX, "x" * TAG_MAX),
        ("edit", "edit"),  # a slug's reserved word is a tag like any other
    ],
)
def test_tags_are_normalised(text, tag):
    assert normalise_tag(text) == tag


@pytest.mark.parametrize("text", ["", "   ", "!!!", "🎉", "-", "x" * (TAG_MAX + 1), "a " * 40])
def test_what_cannot_be_a_tag_is_refused_by_name(text):
    with pytest.raises(ValueError, match="tag"):
        normalise_tag(text)


def test_duplicates_collapse_and_tags_come_sorted():
    assert normalise_tags(["Web Dev", "web-dev", "WEB dev", "art"]) == ["art", "web-dev"]


def test_posts_take_tags_and_answer_them_normalised(client, alice):
    post = create_post(client, alice, tags=["Web Dev", "python", "web-dev", "Ünïcödé"])
    assert post["tags"] == ["python", "web-dev", "ünïcödé"]
    assert client.get(f"/api/posts/{post['id']}").json()["tags"] == post["tags"]
    assert create_post(client, alice)["tags"] == []


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ([f"tag{n}" for n in range(TAGS_MAX + 1)], None),
        (["ok", "x" * (TAG_MAX + 1)], "x" * TAG_MAX),
        (["ok", "!!!"], "!!!"),
        (["line\nbreak"], None),
        ("not-a-list", None),
        ([3], None),
        (["y" * 10_000], "y" * TAG_MAX),
    ],
)
def test_bad_tags_are_a_422_naming_the_tag(client, alice, tags, named):
    body = {"title": "T", "content": "C", "tags": tags}
    for response in (
        client.post("/api/posts", json=body, headers=alice.headers),
        client.patch(
            f"/api/posts/{create_post(client, alice)['id']}",
            json={"tags": tags},
            headers=alice.headers,
        ),
    ):
        assert response.status_code == 422, response.text
        errors = response.json()["detail"]
        assert errors[0]["loc"][:2] == ["body", "tags"]
        if named:
            assert named in errors[0]["msg"]
    assert client.get("/api/tags").json() == []


def test_eight_tags_are_fine_and_duplicates_do_not_count_twice(client, alice):
    tags = [f"Tag {n}" for n in range(TAGS_MAX)]
    assert len(create_post(client, alice, tags=tags)["tags"]) == TAGS_MAX
    assert create_post(client, alice, tags=["a", "A", "a "])["tags"] == ["a"]


def test_patch_replaces_the_set_and_put_keeps_it(client, alice):
    post = create_post(client, alice, tags=["one", "two"])
    url = f"/api/posts/{post['id']}"
    patched = client.patch(url, json={"tags": ["Two", "three"]}, headers=alice.headers)
    assert patched.json()["tags"] == ["three", "two"]
    assert patched.json()["updated_at"] is None  # tags are no change of the text
    put = client.put(url, json={"title": "New", "content": "Body"}, headers=alice.headers)
    assert put.json()["tags"] == ["three", "two"]
    assert client.patch(url, json={"title": "Again"}, headers=alice.headers).json()["tags"] == [
        "three",
        "two",
    ]
    assert client.patch(url, json={"tags": []}, headers=alice.headers).json()["tags"] == []
    assert client.patch(url, json={"tags": None}, headers=alice.headers).status_code == 422


def test_deleting_a_post_deletes_its_tags(client, alice):
    post = create_post(client, alice, tags=["gone"])
    assert client.delete(f"/api/posts/{post['id']}", headers=alice.headers).status_code == 204
    assert client.get("/api/tags").json() == []
    assert client.get("/tags/gone").status_code == 404


# --- Listings and counts -------------------------------------------------------------


def test_api_tags_counts_published_posts_only(client, alice):
    bob = make_account(client, "Bob")
    create_post(client, alice, tags=["python", "web"])
    create_post(client, bob, tags=["python"])
    create_post(client, alice, tags=["art"])
    create_post(client, bob, tags=["zoo"])
    create_post(client, alice, tags=["python", "secret"], status="draft")
    create_post(client, alice, tags=["secret", "soon"], publish_at=later())
    assert client.get("/api/tags").json() == [
        {"name": "python", "count": 2},
        {"name": "art", "count": 1},
        {"name": "web", "count": 1},
        {"name": "zoo", "count": 1},
    ]
    # Cached like every public read.
    first = client.get("/api/tags")
    assert (
        client.get("/api/tags", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    )


def test_the_listing_filters_by_tag(client, alice):
    tagged = [create_post(client, alice, f"T{n}", tags=["news"]) for n in range(5)]
    create_post(client, alice, "Other", tags=["other"])
    create_post(client, alice, "Draft", tags=["news"], status="draft")
    create_post(client, alice, "Later", tags=["news"], publish_at=later())
    seen, cursor = [], None
    while True:
        params = {"tag": "News", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/posts", params=params).json()
        seen += [item["id"] for item in page["items"]]
        assert all("news" in item["tags"] for item in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [post["id"] for post in reversed(tagged)]
    assert client.get("/api/posts", params={"tag": "nothing"}).json() == {
        "items": [],
        "next_cursor": None,
    }
    bad = client.get("/api/posts", params={"tag": "!!!"})
    assert bad.status_code == 422
    assert "!!!" in bad.json()["detail"][0]["msg"]


# --- Pages and feeds -----------------------------------------------------------------


def _card_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'class="card post-card" data-post-id="(\d+)"', html)]


@pytest.mark.settings(page_size=2)
def test_a_tag_page_pages_like_the_home_page(client, alice):
    tagged = [create_post(client, alice, f"T{n}", tags=["web-dev", "x"]) for n in range(5)]
    create_post(client, alice, "Other", tags=["other"])
    create_post(client, alice, "Draft", tags=["web-dev"], status="draft")
    seen, path = [], "/tags/web-dev"
    while True:
        response = client.get(path)
        assert response.status_code == 200
        assert "Posts tagged" in response.text
        seen += _card_ids(response.text)
        older = re.search(r'id="older-posts" rel="next" href="([^"]+)"', response.text)
        if not older:
            break
        assert 'id="load-more"' in response.text
        path = "/tags/web-dev" + older.group(1).replace("&amp;", "&")
    assert seen == [post["id"] for post in reversed(tagged)]
    assert 'href="/tags/web-dev/feed.xml"' in client.get("/tags/web-dev").text


def test_another_spelling_of_a_tag_redirects_to_its_page(client, alice):
    create_post(client, alice, tags=["web-dev", "日本語"])
    response = client.get("/tags/Web Dev", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/tags/web-dev"
    unicode = client.get(f"/tags/{quote('日本語')}")
    assert unicode.status_code == 200
    assert f'href="/tags/{quote("日本語")}"' in unicode.text


@pytest.mark.parametrize("path", ["/tags/{}", "/tags/{}/feed.xml"])
def test_an_unknown_tag_is_a_404_page(client, alice, path):
    create_post(client, alice, tags=["known"])
    create_post(client, alice, tags=["drafty"], status="draft")
    create_post(client, alice, tags=["soon"], publish_at=later())
    for tag in ("unknown", "drafty", "soon", "!!!", "x" * 40):
        response = client.get(path.format(quote(tag)))
        assert response.status_code == 404, tag
    response = client.get("/tags/unknown")
    assert response.headers["content-type"].startswith("text/html")
    assert client.get(path.format("known")).status_code == 200


def test_cards_and_post_pages_link_their_tags(client, alice):
    post = create_post(client, alice, tags=["Web Dev", "art"])
    chip = '<a class="tag-chip" href="/tags/web-dev" rel="tag">#web-dev</a>'
    for path in ("/", post["url"], f"/users/{alice.id}/posts", "/tags/art"):
        assert chip in client.get(path).text, path


def test_a_tag_feed_holds_the_tag_s_posts(client, alice):
    posts = [create_post(client, alice, f"T{n}", tags=["feedme"]) for n in range(3)]
    create_post(client, alice, "Other", tags=["other"])
    response = client.get("/tags/feedme/feed.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.content)  # noqa: S314 (our own output)
    assert feed.find(f"{ATOM}title").text == "Posts tagged feedme · Inkwell"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [p["title"] for p in reversed(posts)]
    assert [c.get("term") for c in entries[0].findall(f"{ATOM}category")] == ["feedme"]


@pytest.mark.parametrize("path", ["/tags/fresh", "/tags/fresh/feed.xml", "/api/tags", "/"])
def test_tag_pages_are_fresh_after_a_tag_change(client, alice, path):
    """A PATCH of a published post's tags alone bumps the content version (the post's
    row is written in the same transaction), so no cached page or 304 is stale."""
    post = create_post(client, alice, "Tagged", tags=["fresh"])
    other = create_post(client, alice, "Other", tags=["other"])
    url = f"/api/posts/{other['id']}"
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    patched = client.patch(url, json={"tags": ["fresh", "new"]}, headers=alice.headers)
    assert patched.status_code == 200
    after = client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert "new" in after.text
    # Taking the tag off its last post makes its page a 404 at once.
    client.patch(f"/api/posts/{post['id']}", json={"tags": []}, headers=alice.headers)
    client.patch(url, json={"tags": []}, headers=alice.headers)
    if path.startswith("/tags/"):
        assert client.get(path).status_code == 404


def test_a_draft_s_tags_change_nothing_anyone_sees(client, alice):
    create_post(client, alice, tags=["public"])
    draft = create_post(client, alice, tags=["private"], status="draft")
    etag = client.get("/api/tags").headers["etag"]
    client.patch(f"/api/posts/{draft['id']}", json={"tags": ["other"]}, headers=alice.headers)
    assert client.get("/api/tags", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", ["/tags/common", "/tags/common/feed.xml", "/api/posts?tag=common"])
def test_tag_listings_cost_the_same_for_one_post_or_thirty(client, path):
    authors = [make_account(client, f"Author{n}") for n in range(5)]
    create_post(client, authors[0], tags=["common", "a"])

    def statements() -> int:
        with counting_statements(client) as sent:
            assert client.get(path).status_code == 200
        # Statements about the blog's tables: a connection the pool opens meanwhile (the
        # outbox sender mails the new accounts beside the requests) sends set-up
        # statements of its own on PostgreSQL.
        return len(
            [sql for sql in sent if re.search(r"\b(posts|post_tags|content_version)\b", sql)]
        )

    with_one_post = statements()
    for n in range(29):
        create_post(client, authors[n % 5], f"P{n}", tags=["common", f"t{n}", "b"])
    # The content version, (on the pages) whether the tag is in use, the posts, their tags.
    assert statements() == with_one_post == (3 if path.startswith("/api/") else 4)


def tag_dates(client, post_id: int) -> set[datetime | None]:
    """The dates a post's tag rows carry (one per tag)."""

    async def read() -> set[datetime | None]:
        async with client.app_state["sessionmaker"]() as session:
            rows = await session.scalars(
                select(PostTag.date_posted).where(PostTag.post_id == post_id)
            )
            return set(rows)

    return client.portal.call(read)


def ids(page: dict) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_a_tags_index_follows_its_posts_publication(client, alice):
    """PostTag.date_posted is the post's publication time while it is published, kept
    by the database (migration 0016) through every way a post changes: a draft's tags,
    its publication, a schedule the publisher carries out, and an operator's own SQL."""
    draft = create_post(client, alice, "Draft", "x", status="draft", tags=["herons"])
    assert tag_dates(client, draft["id"]) == {None}
    assert client.get("/api/posts?tag=herons").json()["items"] == []

    published = client.patch(
        f"/api/posts/{draft['id']}", json={"status": "published"}, headers=alice.headers
    ).json()
    assert tag_dates(client, draft["id"]) == {datetime.fromisoformat(published["date_posted"])}
    newer = create_post(client, alice, "Newer", "x", tags=["herons", "owls"])
    assert ids(client.get("/api/posts?tag=herons").json()) == [newer["id"], draft["id"]]

    scheduled = create_post(client, alice, "Later", "x", publish_at=later(3600), tags=["herons"])
    assert tag_dates(client, scheduled["id"]) == {None}
    # Due just after `newer` (the publisher keeps the planned time as the date).
    due = datetime.fromisoformat(newer["date_posted"]) + timedelta(microseconds=1)
    run_sql(client, update(Post).where(Post.id == scheduled["id"]).values(date_posted=due))

    async def publish() -> None:
        await Publisher(client.app_state["sessionmaker"]).publish_due()

    client.portal.call(publish)
    listed = ids(client.get("/api/posts?tag=herons").json())
    assert listed == [scheduled["id"], newer["id"], draft["id"]]

    # An operator moves a post back in time: the tag page follows at once.
    run_sql(
        client,
        update(Post)
        .where(Post.id == scheduled["id"])
        .values(date_posted=datetime(2020, 1, 1, tzinfo=UTC)),
    )
    assert ids(client.get("/api/posts?tag=herons").json()) == [
        newer["id"],
        draft["id"],
        scheduled["id"],
    ]

    client.patch(f"/api/posts/{newer['id']}", json={"status": "draft"}, headers=alice.headers)
    assert tag_dates(client, newer["id"]) == {None}
    assert ids(client.get("/api/posts?tag=herons").json()) == [draft["id"], scheduled["id"]]
    assert client.get("/tags/owls").status_code == 404
