"""The database goes away: pages a worker holds keep being served for a while (and say
so), everything else answers a quick 503 with Retry-After, never a 500; and all is
normal again once it is back.

On PostgreSQL the outage is real: the app reaches the server through a TCP relay that
the test stops, as a server restart would (every connection cut, new ones refused). On
SQLite, a local file, the worker's version reads fail with the error a failing disk
gives, `sqlite3.OperationalError`.
"""

import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import suppress

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.databases import TEST_DATABASE_URL, fresh_database
from tests.helpers import create_post, make_account

STALE = "stale: database unavailable"


class Relay:
    """A TCP relay to `target`, which can be stopped (every connection cut, new ones
    refused) and started again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FailingDisk:
    """Stands in for the worker's read connection: every statement fails as SQLite
    does on an I/O error."""

    def execute(self, *_args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")


class Outage:
    def __init__(self, client: TestClient, relay: Relay | None) -> None:
        self.client = client
        self.relay = relay
        self._saved: object = None
        self.active = False

    def begin(self) -> None:
        self.active = True
        if self.relay is not None:
            self.relay.stop()
            return
        reads = self.client.app_state["hot_reads"]
        self._saved, reads._connection = reads._connection, FailingDisk()

    def end(self) -> None:
        self.active = False
        if self.relay is not None:
            self.relay.start()
            return
        self.client.app_state["hot_reads"]._connection = self._saved


@pytest.fixture
def outage(tmp_path, make_app, mailbox) -> Iterator[Outage]:
    """A client whose database can be taken away (`begin`) and given back (`end`)."""
    with fresh_database(tmp_path, migrated=True) as database_url:
        relay = None
        if TEST_DATABASE_URL:
            url = make_url(database_url)
            relay = Relay((url.host or "127.0.0.1", url.port or 5432))
            relay.start()
            database_url = url.set(host="127.0.0.1", port=relay.port).render_as_string(False)
        try:
            app = make_app(database_url=database_url)
            with TestClient(app, base_url="https://testserver") as client:
                failure = Outage(client, relay)
                yield failure
                if failure.active:  # a test that failed mid-outage
                    failure.end()
        finally:
            if relay is not None:
                relay.stop()


def test_pages_held_are_served_while_the_database_is_away(outage):
    client = outage.client
    alice = make_account(client, "Alice")
    post = create_post(client, alice)
    held = ["/", post["url"], "/api/posts?limit=10", "/feed.xml"]
    before = {path: client.get(path) for path in held}
    assert all(response.status_code == 200 for response in before.values())
    outage.begin()
    for path in held:
        during = client.get(path)
        assert during.status_code == 200, path
        assert during.content == before[path].content
        assert STALE in during.headers["cache-status"]
        assert during.headers["etag"] == before[path].headers["etag"]
    # A page this worker does not hold cannot be made: a quick 503, as a page or JSON.
    for path, kind in ((f"/users/{alice.id}/posts", "text/html"), ("/api/posts?limit=3", "json")):
        refused = client.get(path)
        assert refused.status_code == 503, path
        assert refused.headers["retry-after"].isdigit()
        assert kind in refused.headers["content-type"]
    outage.end()
    after = client.get("/")
    assert after.status_code == 200
    assert "cache-status" not in after.headers


@pytest.mark.settings(stale_pages_seconds=0)  # held pages are never served stale
def test_past_the_grace_held_pages_answer_503_never_500(outage):
    client = outage.client
    alice = make_account(client, "Alice")
    post = create_post(client, alice)
    held = ["/", post["url"], "/api/posts?limit=10", "/feed.xml"]
    for path in held:
        assert client.get(path).status_code == 200
    outage.begin()
    for path in held:
        refused = client.get(path)
        assert refused.status_code == 503, path
        assert refused.headers["retry-after"].isdigit()
    outage.end()
    for path in held:
        assert client.get(path).status_code == 200, path
