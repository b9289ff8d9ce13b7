"""No N+1: listing pages cost the same number of SQL statements however many posts
and authors there are."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.helpers import create_post, make_account
from web.hot_reads import SQLiteReads


@contextmanager
def counting_statements(client) -> Iterator[list[str]]:
    """Statements sent through the engine, and on SQLite through web/hot_reads.py's own
    connection too; not the outbox sender's, which runs beside the requests."""
    engine = client.app_state["sessionmaker"].kw["bind"].sync_engine
    hot_reads = client.app_state["hot_reads"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if "outbox" not in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    if isinstance(hot_reads, SQLiteReads):
        hot_reads.connection.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
        if isinstance(hot_reads, SQLiteReads):
            hot_reads.connection.set_trace_callback(None)


def _statements_for(client, path: str) -> int:
    with counting_statements(client) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


@pytest.mark.parametrize("path", ["/", "/api/posts", "/users/1/posts", "/api/users/1/posts"])
def test_listing_costs_the_same_for_one_post_or_thirty(client, path):
    first = make_account(client, "Author0")
    create_post(client, first)
    with_one_post = _statements_for(client, path)

    authors = [first] + [make_account(client, f"Author{n}") for n in range(1, 10)]
    for n in range(29):
        create_post(client, authors[n % len(authors)], title=f"Post {n}")
    with_thirty_posts = _statements_for(client, path)

    assert with_thirty_posts == with_one_post
    # The content version (web/page_cache.py), the author where there is one, the posts,
    # and the tags of the whole page (models.Post.tag_rows, loaded "selectin").
    assert with_one_post == (4 if path.startswith(("/users/", "/api/users/")) else 3)


def test_me_is_one_statement(client):
    alice = make_account(client, "Alice")
    with counting_statements(client) as statements:
        assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    assert len(statements) == 1
