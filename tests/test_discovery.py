"""/sitemap.xml and /robots.txt: what search engines are told, and never told."""

from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import fromstring

import pytest
from pydantic import AnyHttpUrl

from tests.helpers import create_post, make_account

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"

# Links follow the request unless a test sets PUBLIC_URL (a developer's .env may).
pytestmark = pytest.mark.settings(public_url=None)


def sitemap_of(client) -> dict[str, str | None]:
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = fromstring(response.content)  # noqa: S314 (our own output)
    assert root.tag == f"{SITEMAP}urlset"
    return {
        url.findtext(f"{SITEMAP}loc") or "": url.findtext(f"{SITEMAP}lastmod")
        for url in root.findall(f"{SITEMAP}url")
    }


def test_the_sitemap_names_published_posts_their_authors_and_tags_only(client, alice, bob):
    post = create_post(client, alice, "Public", "x", tags=["Web Dev", "рыба"])
    create_post(client, alice, "Draft", "x", status="draft", tags=["secret"])
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    create_post(client, bob, "Scheduled", "x", publish_at=later, tags=["soon"])
    urls = sitemap_of(client)
    site = "https://testserver"
    assert set(urls) == {
        f"{site}/",
        f"{site}{post['url']}",
        f"{site}/users/{alice.id}/posts",
        f"{site}/tags/web-dev",
        f"{site}/tags/%D1%80%D1%8B%D0%B1%D0%B0",
    }
    published = datetime.fromisoformat(post["date_posted"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    for url in set(urls) - {f"{site}/"}:
        assert urls[url] == published, url
    for url in urls:
        assert client.get(url.removeprefix(site)).status_code == 200, url


def test_an_update_moves_lastmod_and_the_sitemap_is_fresh(client, alice):
    post = create_post(client, alice, "Public", "v1")
    first = client.get("/sitemap.xml")
    again = client.get("/sitemap.xml", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    changed = client.patch(
        f"/api/posts/{post['id']}", json={"content": "v2"}, headers=alice.headers
    ).json()
    urls = sitemap_of(client)
    updated = datetime.fromisoformat(changed["updated_at"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert urls[f"https://testserver{post['url']}"] == updated


@pytest.mark.settings(public_url=AnyHttpUrl("https://blog.example.com"))
def test_addresses_come_from_public_url(client, alice):
    create_post(client, alice)
    assert all(url.startswith("https://blog.example.com/") for url in sitemap_of(client))
    assert "Sitemap: https://blog.example.com/sitemap.xml" in client.get("/robots.txt").text


def test_robots_allows_the_site_and_keeps_crawlers_out_of_the_rest(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[:2] == ["User-agent: *", "Allow: /"]
    for path in (
        "/api/",
        "/account",
        "/write",
        "/me/",
        "/posts/*/edit",
        "/search",
        "/unsubscribe/",
    ):
        assert f"Disallow: {path}" in lines
    assert "Sitemap: https://testserver/sitemap.xml" in lines
    for public in ("/posts/", "/users/", "/feed.xml", "/tags/"):
        assert not any(line == f"Disallow: {public}" for line in lines)


def test_an_empty_blog_has_a_valid_sitemap(client):
    assert sitemap_of(client) == {"https://testserver/": None}


def test_a_deleted_account_leaves_the_sitemap(client):
    carol = make_account(client, "Carol")
    create_post(client, carol)
    assert any("/users/" in url for url in sitemap_of(client))
    assert client.delete(f"/api/users/{carol.id}", headers=carol.headers).status_code == 204
    assert set(sitemap_of(client)) == {"https://testserver/"}
