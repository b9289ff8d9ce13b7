"""Atom feeds: valid RFC 4287, the newest posts in order, absolute links, exact text
whatever it holds, and the pages' ETag/304 and freshness."""

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from xml.etree.ElementTree import Element, fromstring

import pytest
from pydantic import AnyHttpUrl

from content.feeds import XML_BASE
from content.markdown_render import render_html
from models import Post
from tests.helpers import create_post, make_account
from tests.test_queries import counting_statements

ATOM = "{http://www.w3.org/2005/Atom}"
ATOM_TYPE = "application/atom+xml"


# Links follow the request unless a test sets PUBLIC_URL (a developer's .env may).
pytestmark = pytest.mark.settings(public_url=None)


def parse(response) -> Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(ATOM_TYPE)
    return fromstring(response.content)  # noqa: S314 (our own output, no external entities)


def feed_of(client, path: str = "/feed.xml") -> Element:
    return parse(client.get(path))


def entries(feed: Element) -> list[Element]:
    return feed.findall(f"{ATOM}entry")


def titles(feed: Element) -> list[str | None]:
    return [entry.findtext(f"{ATOM}title") for entry in entries(feed)]


def link(element: Element, rel: str) -> str:
    (found,) = [found for found in element.findall(f"{ATOM}link") if found.get("rel") == rel]
    return found.attrib["href"]


def every_url(feed: Element) -> list[str]:
    """Every address in the feed: ids, link hrefs, author URIs and content bases."""
    urls = [found.attrib["href"] for found in feed.iter(f"{ATOM}link")]
    urls += [found.attrib[XML_BASE] for found in feed.iter(f"{ATOM}content")]
    urls += [found.text or "" for found in feed.iter(f"{ATOM}id")]
    urls += [found.text or "" for found in feed.iter(f"{ATOM}uri")]
    return urls


def set_date_posted(client, post_id: int, when: datetime) -> None:
    async def run() -> None:
        async with client.app_state["sessionmaker"]() as session:
            post = await session.get(Post, post_id)
            assert post is not None
            post.date_posted = when
            await session.commit()

    client.portal.call(run)


def is_rfc3339_with_zone(value: str | None) -> bool:
    assert value is not None
    return "T" in value and datetime.fromisoformat(value).tzinfo is not None


@pytest.fixture
def many_posts(client, alice, bob) -> list[dict]:
    """25 posts, oldest first: Bob wrote numbers 0, 8, 16 and 24, Alice the rest."""
    return [
        create_post(client, bob if n % 8 == 0 else alice, title=f"Post {n}", content=f"Body {n}")
        for n in range(25)
    ]


def test_the_feed_is_atom_with_every_required_element(client, alice):
    create_post(client, alice, title="Hello", content="World")
    for path in ("/feed.xml", f"/users/{alice.id}/feed.xml"):
        feed = feed_of(client, path)
        assert feed.tag == f"{ATOM}feed", path
        for required in ("id", "title", "updated"):
            assert feed.findtext(f"{ATOM}{required}"), (path, required)
        assert is_rfc3339_with_zone(feed.findtext(f"{ATOM}updated"))
        assert link(feed, "self") == f"https://testserver{path}"
        assert feed.findtext(f"{ATOM}generator") == "Inkwell"
        (entry,) = entries(feed)
        for required in ("id", "title", "updated", "published"):
            assert entry.findtext(f"{ATOM}{required}"), (path, required)
        assert is_rfc3339_with_zone(entry.findtext(f"{ATOM}updated"))
        assert is_rfc3339_with_zone(entry.findtext(f"{ATOM}published"))
        # RFC 4287 4.1.1: a feed names an author, or else every entry does.
        assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Alice"
        assert entry.find(f"{ATOM}title").get("type") == "text"
        # The post as its page shows it: rendered, sanitised HTML, escaped in the XML;
        # its relative links resolve against the post's address.
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "html"
        assert content.text == "<p>World</p>\n"
        assert content.get(XML_BASE) == link(entry, "alternate")
        # The feed is as new as its newest entry.
        assert feed.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}updated")


def test_the_blog_feed_holds_the_20_newest_posts_newest_first(client, many_posts):
    feed = feed_of(client)
    assert titles(feed) == [f"Post {n}" for n in range(24, 4, -1)]
    assert link(feed, "alternate") == "https://testserver/"
    assert feed.find(f"{ATOM}author") is None  # many authors: each entry names its own
    # Ordered by date first, not by id: an old post dated later comes first.
    set_date_posted(client, many_posts[0]["id"], datetime.now(UTC) + timedelta(days=1))
    assert titles(feed_of(client))[:2] == ["Post 0", "Post 24"]


def test_an_author_feed_holds_only_their_20_newest(client, alice, bob, many_posts):
    feed = feed_of(client, f"/users/{alice.id}/feed.xml")
    alices = [f"Post {n}" for n in range(24, 0, -1) if n % 8 != 0]
    assert titles(feed) == alices[:20]
    assert {entry.findtext(f"{ATOM}author/{ATOM}name") for entry in entries(feed)} == {"Alice"}
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Alice"
    assert feed.findtext(f"{ATOM}title") == "Posts by Alice · Inkwell"
    assert link(feed, "alternate") == f"https://testserver/users/{alice.id}/posts"

    bobs = feed_of(client, f"/users/{bob.id}/feed.xml")
    assert titles(bobs) == ["Post 24", "Post 16", "Post 8", "Post 0"]


def test_entries_link_to_their_post_and_author(client, alice):
    post = create_post(client, alice)
    (entry,) = entries(feed_of(client))
    assert link(entry, "alternate") == f"https://testserver{post['url']}"
    # The id is the address without the slug, which a slug edit does not change.
    assert entry.findtext(f"{ATOM}id") == f"https://testserver/posts/{post['id']}"
    uri = entry.findtext(f"{ATOM}author/{ATOM}uri")
    assert uri == f"https://testserver/users/{alice.id}/posts"
    assert (
        client.get(link(entry, "alternate").removeprefix("https://testserver")).status_code == 200
    )


@pytest.mark.settings(public_url=AnyHttpUrl("https://blog.example.com"))
def test_links_use_public_url_when_set(client, alice):
    post = create_post(client, alice)
    for path in ("/feed.xml", f"/users/{alice.id}/feed.xml"):
        feed = feed_of(client, path)
        assert link(feed, "self") == f"https://blog.example.com{path}"
        assert all(url.startswith("https://blog.example.com/") for url in every_url(feed)), path
    (entry,) = entries(feed_of(client))
    assert link(entry, "alternate") == f"https://blog.example.com{post['url']}"


@pytest.mark.settings(public_url=AnyHttpUrl("https://example.org/blog/"))
def test_public_url_may_have_a_path(client, alice):
    create_post(client, alice)
    feed = feed_of(client)
    assert link(feed, "self") == "https://example.org/blog/feed.xml"
    assert all(url.startswith("https://example.org/blog/") for url in every_url(feed))


def test_links_follow_the_request_without_public_url(client, alice):
    create_post(client, alice)
    here = feed_of(client)
    assert all(url.startswith("https://testserver/") for url in every_url(here))
    # Each host gets its own copy: the cache never hands one host's links to another.
    there = feed_of(client, "http://other.example/feed.xml")
    assert link(there, "self") == "http://other.example/feed.xml"
    assert all(url.startswith("http://other.example/") for url in every_url(there))
    assert link(feed_of(client), "self") == "https://testserver/feed.xml"


TRICKY_TITLE = "Ends with ]]> & <b>\"quotes\"</b> 'too' · Zoë 山田 😀"
TRICKY_CONTENT = (
    "Tom & Jerry <script>alert('x')</script> \"quoted\"\n\n"
    "Second paragraph:\tcafé, Дмитрий, 日本語, 😀 &amp; <![CDATA[ not markup ]]>"
)


def test_text_round_trips_exactly(client, alice):
    create_post(client, alice, title=TRICKY_TITLE, content=TRICKY_CONTENT)
    response = client.get("/feed.xml")
    assert b"<script>" not in response.content  # escaped, never markup
    (entry,) = entries(parse(response))
    assert entry.findtext(f"{ATOM}title") == TRICKY_TITLE
    html = entry.findtext(f"{ATOM}content")
    assert html == render_html(TRICKY_CONTENT)
    # Once the reader unescapes the XML, the post's own markup is still only text.
    assert "<script" not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html


def test_names_round_trip_exactly(client):
    author = make_account(client, "Zoë & <Co>", email="zoe@example.com")
    create_post(client, author)
    feed = feed_of(client, f"/users/{author.id}/feed.xml")
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Zoë & <Co>"
    assert feed.findtext(f"{ATOM}title") == "Posts by Zoë & <Co> · Inkwell"


def test_text_xml_cannot_carry_still_gives_a_readable_feed(client, alice):
    """Posts may hold U+FFFF (a noncharacter, not a control); XML 1.0 forbids it."""
    create_post(client, alice, title="Odd \uffff", content="line one\r\nline two\ufffe")
    (entry,) = entries(feed_of(client))
    assert entry.findtext(f"{ATOM}title") == "Odd \ufffd"
    assert entry.findtext(f"{ATOM}content") == "<p>line one\nline two\ufffd</p>\n"


def test_an_empty_feed_is_valid_and_always_the_same_bytes(client, alice):
    for path in ("/feed.xml", f"/users/{alice.id}/feed.xml"):
        first = client.get(path)
        feed = parse(first)
        assert entries(feed) == []
        assert is_rfc3339_with_zone(feed.findtext(f"{ATOM}updated"))
        # Another URL is another cache entry, so this renders the feed afresh.
        assert client.get(f"{path}?again").content == first.content, path


def test_feeds_answer_304_to_their_etag(client, alice):
    create_post(client, alice)
    for path in ("/feed.xml", f"/users/{alice.id}/feed.xml"):
        first = client.get(path)
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        cached = client.get(path)
        assert cached.content == first.content
        assert cached.headers["content-type"] == first.headers["content-type"]


@pytest.mark.parametrize("change", ["new post", "edit", "rename", "delete post"])
def test_every_change_shows_in_the_feeds_at_once(client, alice, change):
    post = create_post(client, alice, title="First title")
    paths = ("/feed.xml", f"/users/{alice.id}/feed.xml")
    before = {path: client.get(path) for path in paths}

    if change == "new post":
        create_post(client, alice, title="Brand new post")
        shown, gone = "Brand new post", None
    elif change == "edit":
        body = {"title": "Edited title"}
        client.patch(f"/api/posts/{post['id']}", json=body, headers=alice.headers)
        shown, gone = "Edited title", "First title"
    elif change == "rename":
        client.patch(f"/api/users/{alice.id}", json={"username": "Alicia"}, headers=alice.headers)
        shown, gone = "Alicia", "Alice<"
    else:
        client.delete(f"/api/posts/{post['id']}", headers=alice.headers)
        shown, gone = None, "First title"

    for path, response in before.items():
        revalidated = client.get(path, headers={"If-None-Match": response.headers["etag"]})
        assert revalidated.status_code == 200, (change, path)
        assert revalidated.headers["etag"] != response.headers["etag"]
        if shown is not None:
            assert shown in revalidated.text, (change, path)
        if gone is not None:
            assert gone not in revalidated.text, (change, path)


def test_a_deleted_author_leaves_the_blog_feed_and_their_feed_is_gone(client, alice, bob):
    create_post(client, alice, title="By Alice")
    create_post(client, bob, title="By Bob")
    assert titles(feed_of(client)) == ["By Bob", "By Alice"]
    assert client.get(f"/users/{alice.id}/feed.xml").status_code == 200
    client.delete(f"/api/users/{alice.id}", headers=alice.headers)
    assert titles(feed_of(client)) == ["By Bob"]
    assert client.get(f"/users/{alice.id}/feed.xml").status_code == 404


@pytest.mark.parametrize("path", ["/users/999/feed.xml", "/users/0/feed.xml", "/users/x/feed.xml"])
def test_an_unknown_author_has_no_feed(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/feed.xml", "/users/1/feed.xml"])
def test_a_feed_costs_the_same_for_one_post_or_thirty(client, path):
    """No N+1: the content version, the author where there is one, the posts, their tags."""
    authors = [make_account(client, f"Author{n}") for n in range(10)]
    create_post(client, authors[0])

    def statements() -> int:
        with counting_statements(client) as sent:
            assert client.get(path).status_code == 200
        return len(sent)

    with_one_post = statements()
    for n in range(29):
        create_post(client, authors[n % len(authors)], title=f"Post {n}")
    assert statements() == with_one_post == (4 if path.startswith("/users/") else 3)


def test_feeds_stay_out_of_the_api_schema(client):
    schema_paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in schema_paths if path.endswith("feed.xml")]


class HeadLinks(HTMLParser):
    """The `<link>`s of a page's `<head>`, and the `<a>` hrefs of its footer."""

    def __init__(self) -> None:
        super().__init__()
        self.in_head = self.in_footer = False
        self.head_links: list[dict[str, str | None]] = []
        self.footer_hrefs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_head = self.in_head or tag == "head"
        self.in_footer = self.in_footer or tag == "footer"
        if tag == "link" and self.in_head:
            self.head_links.append(dict(attrs))
        if tag == "a" and self.in_footer:
            self.footer_hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        self.in_head = self.in_head and tag != "head"
        self.in_footer = self.in_footer and tag != "footer"


def feed_links(client, path: str) -> tuple[list[str | None], list[str | None]]:
    response = client.get(path)
    assert response.status_code == 200
    parser = HeadLinks()
    parser.feed(response.text)
    atom = [
        found.get("href")
        for found in parser.head_links
        if found.get("rel") == "alternate" and found.get("type") == ATOM_TYPE
    ]
    return atom, parser.footer_hrefs


def test_pages_point_feed_readers_to_the_feed(client, alice):
    post = create_post(client, alice)
    for path in ("/", f"/posts/{post['id']}", "/login", "/register", "/account"):
        in_head, in_footer = feed_links(client, path)
        assert in_head == ["/feed.xml"], path
        assert "/feed.xml" in in_footer, path


def test_an_author_page_also_points_to_their_feed(client, alice):
    create_post(client, alice)
    in_head, _ = feed_links(client, f"/users/{alice.id}/posts")
    assert in_head == ["/feed.xml", f"/users/{alice.id}/feed.xml"]
    for href in in_head:
        assert client.get(href).headers["content-type"].startswith(ATOM_TYPE)
