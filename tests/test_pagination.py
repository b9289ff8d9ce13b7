"""Keyset pagination: every post exactly once, newest first, whatever is written
meanwhile; a page costs the same at any depth; bad cursors are refused clearly."""

import base64
import html
import re
import string
from datetime import UTC, datetime
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from content.pagination import (
    LIMIT_MAX,
    Position,
    decode_cursor,
    encode_cursor,
    newest_posts,
    own_posts,
)
from tests.helpers import Account, create_post, make_account, run_sql
from tests.test_queries import counting_statements


def walk(client: TestClient, path: str, limit: int) -> list[list[int]]:
    """Every page of a listing, following next_cursor to the end."""
    pages: list[list[int]] = []
    params: dict[str, object] = {"limit": limit}
    while True:
        response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([post["id"] for post in body["items"]])
        if body["next_cursor"] is None:
            return pages
        params["cursor"] = body["next_cursor"]


def posts_by(client: TestClient, accounts: list[Account], count: int) -> list[int]:
    """`count` posts by turns from `accounts`, newest last."""
    return [
        create_post(client, accounts[n % len(accounts)], title=f"Post {n}")["id"]
        for n in range(count)
    ]


def test_every_post_exactly_once_newest_first(client, alice, bob):
    ids = posts_by(client, [alice, bob], 23)
    pages = walk(client, "/api/posts", limit=5)
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [post_id for page in pages for post_id in page] == ids[::-1]


def test_the_last_page_links_nowhere_even_when_full(client, alice):
    posts_by(client, [alice], 6)
    assert [len(page) for page in walk(client, "/api/posts", limit=3)] == [3, 3]
    assert [len(page) for page in walk(client, "/api/posts", limit=6)] == [6]


def test_posts_written_at_the_same_instant_are_each_listed_once(client, alice, bob):
    ids = posts_by(client, [alice, bob], 9)
    # As a bulk import would leave them: one date for all; the id breaks the tie.
    run_sql(client, "UPDATE posts SET date_posted = (SELECT MIN(date_posted) FROM posts)")
    pages = walk(client, "/api/posts", limit=2)
    assert [post_id for page in pages for post_id in page] == sorted(ids, reverse=True)


def test_posts_written_between_page_loads_cause_no_duplicate_and_no_gap(client, alice, bob):
    older = posts_by(client, [alice, bob], 10)
    first = client.get("/api/posts", params={"limit": 4}).json()
    newer = posts_by(client, [bob], 3)
    rest = client.get("/api/posts", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in first["items"] + rest["items"]] == older[::-1][:8]
    # The new posts lead a fresh first page.
    fresh = client.get("/api/posts", params={"limit": 4}).json()
    assert [p["id"] for p in fresh["items"]][:3] == newer[::-1]


def test_a_cursor_outlives_the_post_it_points_at(client, alice):
    ids = posts_by(client, [alice], 6)
    first = client.get("/api/posts", params={"limit": 3}).json()
    last_shown = first["items"][-1]["id"]
    assert client.delete(f"/api/posts/{last_shown}", headers=alice.headers).status_code == 204
    rest = client.get("/api/posts", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [p["id"] for p in rest["items"]] == ids[::-1][3:]


def test_an_authors_listing_pages_through_only_their_posts(client, alice, bob):
    ids = posts_by(client, [alice, bob], 15)
    pages = walk(client, f"/api/users/{bob.id}/posts", limit=3)
    assert [post_id for page in pages for post_id in page] == ids[1::2][::-1]
    assert client.get("/api/users/999/posts").status_code == 404


def test_limit_defaults_to_ten_and_stays_within_bounds(client, alice):
    posts_by(client, [alice], 12)
    assert len(client.get("/api/posts").json()["items"]) == 10
    assert len(client.get("/api/posts", params={"limit": LIMIT_MAX}).json()["items"]) == 12
    for limit in (0, -1, LIMIT_MAX + 1, "ten"):
        response = client.get("/api/posts", params={"limit": limit})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_offset_is_gone(client, alice):
    """The old `offset` parameter would page by position: it no longer means anything."""
    ids = posts_by(client, [alice], 3)
    body = client.get("/api/posts", params={"offset": 1}).json()
    assert [p["id"] for p in body["items"]] == ids[::-1]


def _tampered(cursor: str) -> str:
    """The same cursor naming another post, with the signature left as it was."""
    payload, signature = cursor.split(".")
    micros, post_id = base64.urlsafe_b64decode(payload + "==").decode().split(".")
    forged = base64.urlsafe_b64encode(f"{micros}.{int(post_id) + 1}".encode()).rstrip(b"=")
    return f"{forged.decode()}.{signature}"


def bad_cursors(good: str) -> list[str]:
    return [
        "",
        "nonsense",
        "a.b.c",
        "!!!.???",
        good[:-2],
        good + "A",
        _tampered(good),
        good.split(".")[0],
        "x" * 10_000,
        "é.ü",
        "\x00",
    ]


@pytest.mark.parametrize("path", ["/api/posts", "/api/users/{user_id}/posts"])
def test_bad_cursors_are_a_clear_400(client, alice, path):
    posts_by(client, [alice], 3)
    path = path.format(user_id=alice.id)
    good = client.get(path, params={"limit": 1}).json()["next_cursor"]
    for cursor in bad_cursors(good):
        response = client.get(path, params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert "Invalid cursor" in response.json()["detail"]
    assert client.get(path, params={"cursor": good}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/users/{user_id}/posts"])
def test_pages_answer_a_bad_cursor_with_a_readable_400(client, alice, path):
    create_post(client, alice)
    response = client.get(path.format(user_id=alice.id), params={"cursor": "nonsense"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "Invalid cursor" in response.text


def test_cursors_round_trip_exactly_and_are_short():
    position = Position(datetime(2026, 12, 3, 10, 42, 7, 123456, tzinfo=UTC), 1234)
    cursor = encode_cursor(position)
    assert decode_cursor(cursor) == position
    assert len(cursor) < 60
    assert set(cursor) <= set(string.ascii_letters + string.digits + "-_.")


def test_a_page_costs_the_same_at_any_depth(client):
    authors = [make_account(client, f"Author{n}") for n in range(4)]
    posts_by(client, authors, 40)
    cursors = [None]
    for _ in range(7):
        params = {"limit": 5} | ({"cursor": cursors[-1]} if cursors[-1] else {})
        cursors.append(client.get("/api/posts", params=params).json()["next_cursor"])
    # Another limit than the walk's, so neither page is in the page cache yet.
    costs = []
    for cursor in (cursors[1], cursors[7]):
        with counting_statements(client) as statements:
            response = client.get("/api/posts", params={"limit": 4, "cursor": cursor})
        assert response.status_code == 200
        assert len(response.json()["items"]) == 4
        costs.append(len(statements))
    assert costs[0] == costs[1] == 3  # the content version, the page, its posts' tags


def _query_plan(client: TestClient, statement, *, sorting: bool = True) -> str:
    """The database's own plan for a listing query, as the app sends it (on PostgreSQL,
    with `sorting=False`, a plan that needs no sort if there is one)."""
    engine = client.app_state["sessionmaker"].kw["bind"]
    sent: list[tuple[str, object]] = []

    def capture(_conn, _cursor, sql, parameters, *_args) -> None:
        sent.append((sql, parameters))

    async def explain() -> str:
        async with engine.connect() as connection:
            event.listen(connection.sync_connection, "before_cursor_execute", capture)
            await connection.execute(statement)
            event.remove(connection.sync_connection, "before_cursor_execute", capture)
            sql, parameters = sent[-1]
            if engine.dialect.name == "sqlite":
                rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
                return "\n".join(str(row[-1]) for row in rows)
            # A table this small is cheaper to read whole; the question is whether
            # the index *can* serve the query, as it must once the table is large.
            await connection.exec_driver_sql("SET enable_seqscan = off")
            if not sorting:
                await connection.exec_driver_sql("SET enable_sort = off")
            rows = await connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)
            return "\n".join(row[0] for row in rows)

    return client.portal.call(explain)


@pytest.mark.parametrize("by_author", [False, True], ids=["all", "one author"])
def test_the_query_plan_walks_the_index_with_no_sort(client, alice, by_author):
    posts_by(client, [alice], 5)
    index = (
        "ix_posts_user_id_status_date_posted_id" if by_author else "ix_posts_status_date_posted_id"
    )
    after = decode_cursor(client.get("/api/posts", params={"limit": 2}).json()["next_cursor"])
    user_id = alice.id if by_author else None
    for position in (None, after):
        plan = _query_plan(client, newest_posts(position, user_id).limit(11))
        assert index in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan


@pytest.mark.parametrize("status", [None, "draft"], ids=["every status", "drafts"])
def test_an_authors_own_list_walks_its_index_with_no_sort(client, alice, status):
    posts_by(client, [alice], 5)
    cursor = client.get("/api/users/me/posts?limit=2", headers=alice.headers).json()
    after = decode_cursor(cursor["next_cursor"])
    for position in (None, after):
        plan = _query_plan(client, own_posts(alice.id, status, position).limit(11))
        assert "ix_posts_user_id_changed_at_id" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan


def follow_older_links(client: TestClient, path: str) -> list[list[int]]:
    """Every page of an HTML listing, as a reader without JavaScript walks it."""
    pages: list[list[int]] = []
    while True:
        response = client.get(path)
        assert response.status_code == 200
        pages.append(
            [
                int(n)
                for n in re.findall(r'class="card post-card" data-post-id="(\d+)"', response.text)
            ]
        )
        older = re.search(r'id="older-posts" rel="next" href="([^"]+)"', response.text)
        if older is None:
            assert 'id="load-more"' not in response.text
            return pages
        assert (
            '<button type="button" class="btn btn-primary" id="load-more" hidden>' in response.text
        )
        path = urljoin(path, html.unescape(older[1]))


@pytest.mark.settings(page_size=4)
@pytest.mark.parametrize("path", ["/", "/users/{user_id}/posts"])
def test_pages_show_page_size_posts_and_link_to_older_ones(client, alice, path):
    ids = posts_by(client, [alice], 10)
    pages = follow_older_links(client, path.format(user_id=alice.id))
    assert [len(page) for page in pages] == [4, 4, 2]
    assert [post_id for page in pages for post_id in page] == ids[::-1]


def test_the_home_page_shows_ten_posts_by_default(client, alice):
    posts_by(client, [alice], 12)
    assert [len(page) for page in follow_older_links(client, "/")] == [10, 2]


@pytest.mark.settings(page_size=2)
def test_older_pages_say_so_and_link_back_to_the_newest(client, alice):
    posts_by(client, [alice], 3)
    first = client.get("/")
    assert "<h1>Latest posts</h1>" in first.text
    older = re.search(r'id="older-posts" rel="next" href="([^"]+)"', first.text)[1]
    second = client.get(urljoin("/", html.unescape(older)))
    assert "<h1>Older posts</h1>" in second.text
    assert '<a href="/">← Newest posts</a>' in second.text
    author = client.get(f"/users/{alice.id}/posts").text
    assert "3 posts" in author  # every post the author wrote, not just this page's


def test_a_cursor_past_the_end_shows_an_empty_page(client, alice, monkeypatch):
    ids = posts_by(client, [alice], 2)
    cursor = client.get("/api/posts", params={"limit": 1}).json()["next_cursor"]
    assert client.delete(f"/api/posts/{ids[0]}", headers=alice.headers).status_code == 204
    response = client.get("/", params={"cursor": cursor})
    assert response.status_code == 200
    assert "No older posts." in response.text


def test_a_tag_listing_walks_the_tags_own_index_with_no_sort(client, alice):
    """A tag page reads its tag's rows of the (tag, date_posted, post_id) index newest
    first, and each of their posts by its key: never the other posts, whatever the tag
    (walking all posts for the few with a rare tag took 7.7 ms at 20,000 posts)."""
    for n in range(6):
        create_post(client, alice, f"Post {n}", "Words.", tags=["herons"] if n % 2 else ["owls"])
    after = decode_cursor(client.get("/api/posts?tag=herons&limit=2").json()["next_cursor"])
    for position in (None, after):
        # PostgreSQL sorts a handful of rows rather than walk an index; the question is
        # whether the index serves the order, as it must once the tag has many posts.
        plan = _query_plan(client, newest_posts(position, tag="herons").limit(11), sorting=False)
        # The tag's index leads (SQLite's plan lists the outer loop first; PostgreSQL
        # names it in its own words).
        assert re.search(
            r"^SEARCH post_tags USING COVERING INDEX ix_post_tags_tag_date_posted_post_id"
            r"|Index Only Scan Backward using ix_post_tags_tag_date_posted_post_id",
            plan,
        ), plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan
