"""What travels: compressed pages, CSS, JS and JSON that still revalidate with their
ETag, and the meta tags search engines and link previews read."""

import gzip
import html
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl

from tests.helpers import create_post

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}


def raw(client, path: str, headers: dict[str, str]) -> tuple[object, bytes]:
    """The response and its body as sent, still compressed."""
    with client.stream("GET", path, headers=headers) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("path", ["/", "/posts/{post_id}", "/users/{user_id}/posts", "/feed.xml"])
def test_pages_are_sent_gzipped_and_still_answer_304(client, alice, path):
    post = create_post(client, alice, content="Words " * 200)
    path = path.format(post_id=post["id"], user_id=alice.id)
    plain, plain_body = raw(client, path, PLAIN)
    zipped, zipped_body = raw(client, path, GZIP)
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(zipped_body) == plain_body
    assert len(zipped_body) < len(plain_body) / 2
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    # One weak tag for both copies: either revalidates, whichever copy is asked for.
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert zipped.headers["etag"].startswith("W/")
    for headers in (GZIP, PLAIN):
        again = client.get(path, headers=headers | {"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


def test_css_js_and_json_are_compressed(client, alice):
    for n in range(12):
        create_post(client, alice, title=f"Post {n}", content="Some text " * 30)
    home = client.get("/").text
    assets = re.findall(r'(/static/[^"]+\.(?:css|js)\?v=[0-9a-f]+)', home)
    assert any(".css" in a for a in assets)
    assert any(".js" in a for a in assets)
    for path in [*assets, "/api/posts?limit=12", "/openapi.json"]:
        if len(client.get(path, headers=PLAIN).content) < 1024:
            continue  # below 500 bytes gzip is not worth its time (theme.js)
        response, body = raw(client, path, GZIP)
        assert response.headers.get("content-encoding") == "gzip", path
        assert gzip.decompress(body)
        etag = response.headers.get("etag")
        if etag:  # a strong tag would claim byte equality with the plain copy
            assert etag.startswith("W/"), path


def test_a_compressed_static_file_revalidates(client):
    path = "/static/js/auth.js"
    first, _ = raw(client, path, GZIP)
    etag = first.headers["etag"]
    assert etag.startswith("W/")
    assert client.get(path, headers=GZIP | {"If-None-Match": etag}).status_code == 304


def test_small_answers_and_clients_without_gzip_get_plain_bodies(client, alice):
    me, _ = raw(client, "/api/users/me", GZIP | alice.headers)
    assert "content-encoding" not in me.headers  # too small to be worth it
    for path in ("/", "/api/posts", "/static/css/main.css"):
        response, body = raw(client, path, PLAIN)
        assert "content-encoding" not in response.headers, path
        assert body


def meta(page: str, attribute: str, name: str) -> str | None:
    found = re.search(rf'<meta {attribute}="{re.escape(name)}" content="([^"]*)"', page)
    return html.unescape(found[1]) if found else None


def canonical(page: str) -> str | None:
    found = re.search(r'<link rel="canonical" href="([^"]*)"', page)
    return html.unescape(found[1]) if found else None


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/account", "/users/{user_id}/posts"])
def test_every_page_has_a_title_description_and_canonical_link(client, alice, path):
    page = client.get(path.format(user_id=alice.id)).text
    assert re.search(r"<title>[^<]+ · Inkwell</title>", page)
    assert meta(page, "name", "description")
    assert canonical(page) == f"https://testserver{path.format(user_id=alice.id)}"


def test_a_post_page_describes_itself_with_its_opening_words(client, alice):
    content = "The *first* sentence says what it is about & why. " + "More words. " * 40
    post = create_post(client, alice, title='A "quoted" <title>', content=content)
    page = client.get(f"/posts/{post['id']}").text
    description = meta(page, "name", "description")
    assert description.startswith("The first sentence says what it is about & why.")
    assert len(description) <= 160
    assert description.endswith("…")
    assert meta(page, "property", "og:title") == 'A "quoted" <title>'
    assert meta(page, "property", "og:description") == description
    assert meta(page, "property", "og:type") == "article"
    url = f"https://testserver{post['url']}"
    assert meta(page, "property", "og:url") == canonical(page) == url


def test_canonical_links_keep_the_cursor_only_and_follow_public_url(client, alice, make_app):
    for n in range(12):
        create_post(client, alice, title=f"Post {n}")
    cursor = client.get("/api/posts").json()["next_cursor"]
    page = client.get("/", params={"cursor": cursor, "utm_source": "x"}).text
    assert canonical(page) == f"https://testserver/?cursor={cursor}"
    assert canonical(client.get("/login?next=/account").text) == "https://testserver/login"
    public = make_app(public_url=AnyHttpUrl("https://blog.example.com/"))  # same database
    with TestClient(public, base_url="https://testserver") as behind_a_proxy:
        page = behind_a_proxy.get("/register").text
    assert canonical(page) == "https://blog.example.com/register"


def test_the_api_docs_link_back_to_the_blog(client):
    docs = client.get("/docs").text
    assert '<a href="/">&larr; Back to Inkwell</a>' in docs
    assert docs.index("Back to Inkwell") < docs.index('<div id="swagger-ui">')


def test_a_client_that_refuses_gzip_gets_plain_bodies_everywhere(client, alice):
    """`gzip;q=0` means "not gzip": one rule decides it for pages and everything else."""
    create_post(client, alice, content="Words " * 200)
    refuses = {"Accept-Encoding": "gzip;q=0, identity"}
    for path in ("/", "/static/css/main.css", "/openapi.json"):
        response, body = raw(client, path, refuses)
        assert "content-encoding" not in response.headers, path
        assert body
