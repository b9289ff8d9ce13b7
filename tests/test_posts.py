"""/api/posts: reading is public; writing needs a token and, for changes, ownership."""

import pytest

from tests.helpers import create_post


def test_create_read_update_delete(client, alice):
    post = create_post(client, alice, "First post", "Line one\nLine two")
    assert post["title"] == "First post"
    assert post["content"] == "Line one\nLine two"
    assert post["user_id"] == alice.id
    assert post["author"] == {
        "id": alice.id,
        "username": "Alice",
        "image_file": None,
        "image_path": "/static/img/default.svg",
        "bio": None,
        "website": None,
    }
    assert post["date_posted"].endswith(("Z", "+00:00"))
    assert client.get(f"/api/posts/{post['id']}").json() == post

    url, headers = f"/api/posts/{post['id']}", alice.headers
    patched = client.patch(url, json={"title": "Renamed"}, headers=headers).json()
    assert (patched["title"], patched["content"]) == ("Renamed", "Line one\nLine two")
    replaced = client.put(url, json={"title": "New", "content": "All new"}, headers=headers).json()
    assert (replaced["title"], replaced["content"]) == ("New", "All new")
    assert replaced["date_posted"] == post["date_posted"]

    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url).status_code == 404


def test_posts_list_newest_first_with_authors(client, alice, bob):
    first = create_post(client, alice, "one")
    second = create_post(client, bob, "two")
    listed = client.get("/api/posts").json()
    assert [p["id"] for p in listed["items"]] == [second["id"], first["id"]]
    assert [p["author"]["username"] for p in listed["items"]] == ["Bob", "Alice"]
    assert listed["next_cursor"] is None


def test_user_posts(client, alice, bob):
    create_post(client, alice, "mine")
    create_post(client, bob, "theirs")
    titles = [p["title"] for p in client.get(f"/api/users/{alice.id}/posts").json()["items"]]
    assert titles == ["mine"]
    assert client.get("/api/users/999/posts").json() == {
        "detail": "User not found",
        "code": "user_not_found",
    }


@pytest.mark.parametrize("path", ["/api/posts/999", "/api/posts/0", "/api/posts/abc"])
def test_missing_post(client, path):
    response = client.get(path)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"] == "application/json"


def test_huge_ids_are_refused_not_crashed(client, alice):
    assert client.get(f"/api/posts/{2**63}").status_code == 422
    assert client.get(f"/api/users/{2**40}").status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "content": "x"},
        {"title": "   ", "content": "x"},
        {"title": "x" * 101, "content": "x"},
        {"title": "x", "content": ""},
        {"title": "x"},
        {"title": None, "content": "x"},
        {"title": "x", "content": "x", "user_id": 2},
        {"title": "bell\x07", "content": "x"},
    ],
)
def test_invalid_posts_are_422_and_not_stored(client, alice, body):
    assert client.post("/api/posts", json=body, headers=alice.headers).status_code == 422
    assert client.get("/api/posts").json() == {"items": [], "next_cursor": None}


def test_patch_refuses_nulls_and_unknown_fields(client, alice):
    post = create_post(client, alice)
    url = f"/api/posts/{post['id']}"
    assert client.patch(url, json={"title": None}, headers=alice.headers).status_code == 422
    assert client.patch(url, json={"user_id": 2}, headers=alice.headers).status_code == 422
    assert client.get(url).json() == post


def test_public_endpoints_never_show_an_email(client, alice):
    post = create_post(client, alice)
    paths = ["/api/posts", f"/api/posts/{post['id']}", f"/api/users/{alice.id}"]
    paths += [
        f"/api/users/{alice.id}/posts",
        "/",
        f"/posts/{post['id']}",
        f"/users/{alice.id}/posts",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200
        assert "alice@example.com" not in response.text
        assert '"email"' not in response.text
