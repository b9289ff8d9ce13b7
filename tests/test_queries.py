"""No N+1: listing pages cost the same number of SQL statements however many posts
and authors there are."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from content.scheduler import Publisher
from images.media import MediaCollector
from tests.helpers import create_post, make_account
from web.hot_reads import SQLiteReads

# The asyncio tasks of main.py's lifespan that use the database on their own.
BACKGROUND_TASKS = {"outbox-sender", Publisher.name, MediaCollector.name}


@contextmanager
def counting_statements(client) -> Iterator[list[str]]:
    """Statements sent through the engine, and on SQLite through web/hot_reads.py's own
    connection too; not those of the background jobs (the outbox sender, the publisher,
    the media collector), which run beside the requests at their own times."""
    engine = client.app_state["sessionmaker"].kw["bind"].sync_engine
    hot_reads = client.app_state["hot_reads"]
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        task = asyncio.current_task()
        in_background = task is not None and task.get_name() in BACKGROUND_TASKS
        if not in_background and "outbox" not in statement:
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


def test_the_background_jobs_statements_are_not_counted(client):
    """The publisher looks for due posts every few seconds beside the requests: a count
    of a request's statements must not depend on whether it looked meanwhile."""
    publisher = Publisher(client.app_state["sessionmaker"])

    async def look(name: str) -> None:
        await asyncio.create_task(publisher.publish_due(), name=name)

    with counting_statements(client) as in_background:
        client.portal.call(look, Publisher.name)
    with counting_statements(client) as in_a_request:
        client.portal.call(look, "a request")
    assert in_background == []
    assert len(in_a_request) >= 2  # what is due, then when the next one is


def test_a_search_is_one_statement_however_many_results(client):
    """The page's posts, their authors and their tags come with their rank in one
    statement (content/search.py), for one result or twelve."""
    authors = [make_account(client, f"Author{n}") for n in range(3)]
    create_post(client, authors[0], "Heron", "A grey heron.", tags=["birds"])
    with counting_statements(client) as statements:
        assert len(client.get("/api/search?q=heron").json()["items"]) == 1
    with_one = len(statements)
    for n in range(11):
        create_post(client, authors[n % 3], f"Heron {n}", "Herons.", tags=["birds", f"t{n}"])
    with counting_statements(client) as statements:
        items = client.get("/api/search?q=heron").json()["items"]
    assert len(items) == 10
    assert all("birds" in item["tags"] for item in items)
    assert len(statements) == with_one == 1
