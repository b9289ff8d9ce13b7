"""Author profiles (bio and website), a post page's links to its neighbours and its
author, and what search engines and link previews read of it (JSON-LD, Open Graph,
Twitter card)."""

import json
import re
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from alembic import command
from pydantic import AnyHttpUrl
from sqlalchemy import create_engine, text

from content.posts import neighbour_query
from database import alembic_config, sync_url
from tests.databases import fresh_database
from tests.helpers import create_post, png, run_sql
from tests.test_media import uploaded
from tests.test_pagination import _query_plan

# Absolute addresses follow the request unless a test sets PUBLIC_URL.
pytestmark = pytest.mark.settings(public_url=None)
DRAFT = {"status": "draft"}


def patch_me(client, account, **fields):
    return client.patch(f"/api/users/{account.id}", json=fields, headers=account.headers)


def refused_field(answer) -> str:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "validation_error"
    return body["detail"][0]["loc"][-1]


# --- Bio and website ---------------------------------------------------------------


def test_bio_and_website_are_set_shown_and_cleared(client, alice):
    assert client.get(f"/api/users/{alice.id}").json() | {} == {
        "id": alice.id,
        "username": alice.username,
        "image_file": None,
        "image_path": "/static/img/default.svg",
        "bio": None,
        "website": None,
    }
    bio = "  Writes about <b>gardens</b> & code.\nTwo lines.  "
    answer = patch_me(client, alice, bio=bio, website="https://alice.example/about?x=1&y=2")
    assert answer.status_code == 200, answer.text
    private = answer.json()
    assert private["bio"] == bio.strip()
    assert private["website"] == "https://alice.example/about?x=1&y=2"
    assert "email" in private
    public = client.get(f"/api/users/{alice.id}").json()
    assert (public["bio"], public["website"]) == (bio.strip(), private["website"])
    assert "email" not in public
    me = client.get("/api/users/me", headers=alice.headers).json()
    assert me["bio"] == bio.strip()
    # Posts carry their author's public profile too.
    post = create_post(client, alice)
    assert post["author"]["bio"] == bio.strip()

    cleared = patch_me(client, alice, bio="", website="  ").json()
    assert (cleared["bio"], cleared["website"]) == (None, None)
    assert client.get(f"/api/users/{alice.id}").json()["bio"] is None


def test_a_rename_leaves_the_profile_alone(client, alice):
    patch_me(client, alice, bio="Hello", website="http://alice.example")
    renamed = patch_me(client, alice, username="Alicia").json()
    assert (renamed["bio"], renamed["website"]) == ("Hello", "http://alice.example")


def test_a_bio_is_at_most_300_characters_of_plain_text(client, alice):
    assert patch_me(client, alice, bio="é" * 300).json()["bio"] == "é" * 300
    assert refused_field(patch_me(client, alice, bio="x" * 301)) == "bio"
    assert refused_field(patch_me(client, alice, bio="bell\x07")) == "bio"
    assert refused_field(patch_me(client, alice, bio=None)) is not None
    assert client.get(f"/api/users/{alice.id}").json()["bio"] == "é" * 300


@pytest.mark.parametrize(
    "website",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example",
        "//alice.example",
        "alice.example",
        "https://",
        "https:///path",
        "https://exa mple.com",
        "https://example.com/\nx",
        "http://[::1",
        "https://" + "a" * 200 + ".example",
    ],
)
def test_a_website_is_an_http_address(client, alice, website):
    assert refused_field(patch_me(client, alice, website=website)) == "website"
    assert client.get(f"/api/users/{alice.id}").json()["website"] is None


def test_only_the_owner_changes_a_profile(client, alice, bob):
    answer = client.patch(f"/api/users/{alice.id}", json={"bio": "Mine"}, headers=bob.headers)
    assert (answer.status_code, answer.json()["code"]) == (403, "not_your_account")
    assert client.patch(f"/api/users/{alice.id}", json={"bio": "Mine"}).status_code == 401


def test_the_author_page_shows_the_bio_and_website(client, alice):
    page = f"/users/{alice.id}/posts"
    assert 'id="user-bio"' not in client.get(page).text  # cached now
    patch_me(
        client, alice, bio="Gardens </p><script>x</script> & code", website="https://a.example"
    )
    html = client.get(page).text  # the edit refreshed the cached page
    assert "Gardens &lt;/p&gt;&lt;script&gt;x&lt;/script&gt; &amp; code" in html
    assert "<script>x" not in html
    assert '<a id="user-website" href="https://a.example" rel="nofollow ugc me">' in html
    patch_me(client, alice, bio="Now about birds")
    assert "Now about birds" in client.get(page).text
    patch_me(client, alice, bio="", website="")
    html = client.get(page).text
    assert 'id="user-bio"' not in html
    assert 'id="user-website"' not in html


def test_editing_the_bio_refreshes_post_pages_and_their_etags(client, alice):
    post = create_post(client, alice)
    first = client.get(post["url"])
    patch_me(client, alice, bio="New bio")
    again = client.get(post["url"], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 200  # the content version moved


def test_the_users_trigger_fires_on_bio_and_website_alone(client, alice):
    def version() -> int:
        async def read() -> int:
            return await client.app_state["page_cache"].version()

        return client.portal.call(read)

    for column, value in (("bio", "by hand"), ("website", "https://hand.example")):
        before = version()
        statement = f"UPDATE users SET {column} = :value WHERE id = :id"  # noqa: S608 (ours)
        run_sql(client, statement, value=value, id=alice.id)
        assert version() == before + 1, column


def test_the_migration_adds_the_columns_and_goes_back(tmp_path):
    def version(connection) -> int:
        return connection.scalar(text("SELECT version FROM content_version"))

    with fresh_database(tmp_path) as database_url:
        engine = create_engine(sync_url(database_url))
        try:
            with engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "0011")
                connection.execute(
                    text(
                        "INSERT INTO users (username, email, username_key, email_key, "
                        "password_hash, token_version, account_key, email_verified, bio) "
                        "VALUES ('a', 'a@example.com', 'a', 'a@example.com', 'x', 0, 'k', "
                        "false, 'old')"
                    )
                )
                before = version(connection)
                connection.execute(text("UPDATE users SET website = 'https://a.example'"))
                assert version(connection) == before + 1
                command.downgrade(config, "0010")
                before = version(connection)
                connection.execute(text("UPDATE users SET username = 'b'"))
                assert version(connection) == before + 1  # 0004's trigger, as it was
                connection.execute(text("UPDATE users SET password_hash = 'y'"))
                assert version(connection) == before + 1
                command.upgrade(config, "0011")
                assert connection.scalar(text("SELECT bio FROM users")) is None
        finally:
            engine.dispose()


# --- Previous, next and author ------------------------------------------------------


def nav_links(html: str) -> dict[str, str]:
    """rel -> href of the links in the page's post navigation."""
    nav = html.split('id="post-nav"', 1)[1].split("</nav>", 1)[0]
    return dict(re.findall(r'<a class="[^"]*" rel="(prev|next)" href="([^"]+)"', nav))


def test_a_post_links_to_the_previous_and_next_published_post(client, alice, bob):
    first = create_post(client, alice, "First")
    create_post(client, alice, "A draft between", "x", **DRAFT)
    second = create_post(client, bob, "Second")
    third = create_post(client, alice, "Third")

    assert nav_links(client.get(first["url"]).text) == {"next": second["url"]}
    assert nav_links(client.get(second["url"]).text) == {
        "prev": first["url"],
        "next": third["url"],
    }
    middle = client.get(second["url"]).text
    assert (
        f'<a class="post-nav-author" href="/users/{bob.id}/posts">More by {bob.username}</a>'
        in middle
    )
    assert f'<link rel="prev" href="{first["url"]}">' in middle
    assert nav_links(client.get(third["url"]).text) == {"prev": second["url"]}

    # A new post becomes the last one's next at once (the page cache is refreshed).
    fourth = create_post(client, bob, "Fourth")
    assert nav_links(client.get(third["url"]).text) == {
        "prev": second["url"],
        "next": fourth["url"],
    }
    # Taken back to draft, it is skipped again.
    client.patch(f"/api/posts/{second['id']}", json=DRAFT, headers=bob.headers)
    assert nav_links(client.get(third["url"]).text) == {
        "prev": first["url"],
        "next": fourth["url"],
    }


def test_posts_published_at_the_same_moment_follow_their_ids(client, alice):
    posts = [create_post(client, alice, f"Post {n}") for n in range(3)]
    run_sql(client, "UPDATE posts SET date_posted = (SELECT MIN(date_posted) FROM posts)")
    client.patch(f"/api/posts/{posts[0]['id']}", json={"title": "Post 0!"}, headers=alice.headers)
    links = nav_links(client.get(f"/posts/{posts[1]['id']}/{posts[1]['slug']}").text)
    assert links == {"prev": f"/posts/{posts[0]['id']}/post-0", "next": posts[2]["url"]}


def test_the_neighbour_queries_walk_the_index_with_no_sort(client, alice):
    posts = [create_post(client, alice, f"Post {n}") for n in range(5)]
    here = (datetime.fromisoformat(posts[2]["date_posted"]), posts[2]["id"])
    for older in (True, False):
        plan = _query_plan(client, neighbour_query(here, older=older))
        assert "ix_posts_status_date_posted_id" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan


# --- JSON-LD, Open Graph, Twitter ----------------------------------------------------

# schema.org's vocabulary for what a post page says: the types and, for each, the
# properties it uses, as schema.org defines them (https://schema.org/BlogPosting,
# /Person, /ImageObject: each lists its own properties and those it inherits from
# CreativeWork, MediaObject and Thing). A property outside these is not schema.org's.
SCHEMA_ORG = {
    "BlogPosting": {
        # CreativeWork (headline, datePublished, dateModified, author, image,
        # mainEntityOfPage) and Thing (description, url).
        "headline", "datePublished", "dateModified", "author", "image", "description",
        "url", "mainEntityOfPage",
    },
    "Person": {"name", "url", "image"},  # Thing
    "ImageObject": {"url", "width", "height", "contentUrl"},  # Thing; MediaObject
}  # fmt: skip
DATES = ("datePublished", "dateModified")
URLS = ("url", "mainEntityOfPage")


class _JsonLd(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self._inside = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._inside = dict(attrs).get("type") == "application/ld+json"
            if self._inside:
                self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.blocks[-1] += data


def json_ld(html: str) -> dict:
    parser = _JsonLd()
    parser.feed(html)
    assert len(parser.blocks) == 1
    return json.loads(parser.blocks[0])


def is_absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_schema_org(node: dict, expected_type: str) -> None:
    assert node["@type"] == expected_type
    unknown = set(node) - SCHEMA_ORG[expected_type] - {"@type", "@context"}
    assert not unknown, f"not schema.org properties of {expected_type}: {unknown}"
    for key in URLS:
        if key in node:
            assert is_absolute(node[key]), (key, node[key])
    for key in DATES:
        if key in node:
            moment = datetime.fromisoformat(node[key])  # ISO 8601
            assert moment.tzinfo is not None
    for key in ("width", "height"):
        if key in node:
            assert isinstance(node[key], int)
    for value in node.values():
        if isinstance(value, dict):
            check_schema_org(value, value["@type"])


def meta(html: str, attribute: str, name: str) -> str | None:
    found = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)">', html)
    return found.group(1) if found else None


def test_a_post_page_carries_a_blog_posting(client, alice):
    post = create_post(client, alice, "On gardens", "Tomatoes want sun. " * 20, summary="Sun.")
    client.patch(f"/api/posts/{post['id']}", json={"title": "On gardens!"}, headers=alice.headers)
    post = client.get(f"/api/posts/{post['id']}").json()
    html = client.get(post["url"]).text
    data = json_ld(html)
    assert data["@context"] == "https://schema.org"
    check_schema_org(data, "BlogPosting")
    base = str(client.base_url).rstrip("/")
    assert data["headline"] == "On gardens!"
    assert data["description"] == "Sun."
    assert datetime.fromisoformat(data["datePublished"]) == datetime.fromisoformat(
        post["date_posted"]
    )
    assert datetime.fromisoformat(data["dateModified"]) == datetime.fromisoformat(
        post["updated_at"]
    )
    assert data["author"] == {
        "@type": "Person",
        "name": alice.username,
        "url": f"{base}/users/{alice.id}/posts",
    }
    assert data["url"] == data["mainEntityOfPage"] == f"{base}{post['url']}"
    assert "image" not in data  # no image in the post, no picture of the author
    assert meta(html, "name", "twitter:card") == "summary"
    assert meta(html, "property", "og:image") is None


def test_a_title_cannot_close_the_script(client, alice):
    title = '</script><script>alert("x")</script> <!-- & >'
    post = create_post(client, alice, title)
    html = client.get(post["url"]).text
    block = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    for character in "<>&":
        assert character not in block
    assert "\\u003c/script\\u003e" in block
    assert json.loads(block)["headline"] == title
    assert '<script>alert("x")' not in html


def test_the_preview_image_is_the_posts_first_upload(client, alice):
    wide = uploaded(client, alice.headers, png(640, 320, "red"))
    tall = uploaded(client, alice.headers, png(100, 200, "blue"))
    content = f"Hello\n\n![a field]({wide['url']})\n\n![a tree]({tall['url']})"
    post = create_post(client, alice, "Pictures", content)
    html = client.get(post["url"]).text
    image = meta(html, "property", "og:image")
    assert image is not None
    assert is_absolute(image)
    assert image.endswith(wide["url"])
    assert meta(html, "property", "og:image:width") == str(wide["width"])
    assert meta(html, "property", "og:image:height") == str(wide["height"])
    assert meta(html, "name", "twitter:card") == "summary_large_image"
    data = json_ld(html)
    check_schema_org(data, "BlogPosting")
    assert data["image"] == {
        "@type": "ImageObject",
        "url": image,
        "width": wide["width"],
        "height": wide["height"],
    }


def test_without_an_image_the_preview_is_the_authors_picture(client, alice):
    answer = client.put(
        "/api/users/me/picture",
        files={"file": ("me.png", png(300, 300), "image/png")},
        headers=alice.headers,
    )
    assert answer.status_code == 200, answer.text
    picture = answer.json()["image_path"]
    post = create_post(client, alice, "Words only")
    html = client.get(post["url"]).text
    image = meta(html, "property", "og:image")
    assert image is not None
    assert image.endswith(picture)
    assert is_absolute(image)
    assert meta(html, "property", "og:image:width") is None  # not known
    assert meta(html, "name", "twitter:card") == "summary"
    data = json_ld(html)
    check_schema_org(data, "BlogPosting")
    assert data["image"] == {"@type": "ImageObject", "url": image}


@pytest.mark.settings(public_url=AnyHttpUrl("https://blog.example"))
def test_absolute_addresses_come_from_public_url(client, alice):
    post = create_post(client, alice)
    data = json_ld(client.get(post["url"]).text)
    assert data["url"] == f"https://blog.example{post['url']}"
    assert data["author"]["url"] == f"https://blog.example/users/{alice.id}/posts"


def test_the_only_inline_script_is_the_data_block(client, alice):
    """The CSP allows scripts from this site only: the JSON-LD is data (never run), and
    no other inline script is on the page."""
    post = create_post(client, alice)
    answer = client.get(post["url"])
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy  # script-src falls back to it
    assert "unsafe-inline" not in policy
    parser = _JsonLd()
    parser.feed(answer.text)
    inline = [script for script in parser.scripts if "src" not in script]
    assert inline == [{"type": "application/ld+json"}]
