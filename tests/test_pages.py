"""The HTML pages, their errors, and how they stay out of the API's schema."""

import pytest

from tests.helpers import create_post

PAGES = ["/", "/register", "/login", "/account", "/write", "/me/posts"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_html(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>" in response.text


def test_post_and_user_pages(client, alice):
    post = create_post(client, alice, "A <b>bold</b> title", "Some content")
    page = client.get(f"/posts/{post['id']}")
    assert page.status_code == 200
    assert "A &lt;b&gt;bold&lt;/b&gt; title" in page.text  # escaped, never markup
    assert "<b>bold</b>" not in page.text
    user_page = client.get(f"/users/{alice.id}/posts")
    assert user_page.status_code == 200
    assert "Alice" in user_page.text


def test_the_editor_pages_are_the_same_for_everyone(client, alice):
    """/write, /posts/{id}/edit and /me/posts are pages like any: the browser asks the
    API for the post with its token (a draft is its author's alone), so even a post
    that does not exist, or is someone else's, gets the page, which says so."""
    post = create_post(client, alice)
    for path in ["/write", f"/posts/{post['id']}/edit", "/posts/999/edit", "/me/posts"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert '<meta name="robots" content="noindex">' in response.text, path
    edit = client.get(f"/posts/{post['id']}/edit").text
    assert f'data-post-id="{post["id"]}"' in edit
    assert 'data-post-id=""' in client.get("/write").text
    # The author's own list is filled in by the browser: the page names no post.
    assert post["title"] not in client.get("/me/posts").text.split("<main", 1)[1]


@pytest.mark.parametrize("path", ["/posts/999", "/users/999/posts", "/posts/abc", "/nope"])
def test_missing_pages_get_an_html_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_api_paths_answer_json(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


def test_405_names_every_method_the_path_serves(client):
    response = client.put("/api/posts")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"
    assert client.patch("/api/users/me").headers["allow"] == "GET, HEAD"


def test_pages_are_absent_from_the_api_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert paths
    assert all(path.startswith("/api/") for path in paths)


def test_versioned_assets_are_cached_for_a_year(client):
    page = client.get("/").text
    css = page.split('href="/static/css/main.css?v=')[1].split('"')[0]
    versioned = client.get(f"/static/css/main.css?v={css}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/css/main.css").headers["cache-control"] == "no-cache"


def test_head_answers_like_get_without_a_body(client, alice):
    """Monitors and link checkers use HEAD; it used to get 405 on every page."""
    post = create_post(client, alice)
    paths = [*PAGES, f"/posts/{post['id']}", f"/users/{alice.id}/posts", "/api/posts"]
    paths += ["/posts/999", "/openapi.json", "/static/css/main.css"]
    for path in paths:
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        for header in ("content-type", "content-length", "content-security-policy"):
            assert head.headers.get(header) == get.headers.get(header), (path, header)
    assert client.head("/api/users/token").status_code == 405
