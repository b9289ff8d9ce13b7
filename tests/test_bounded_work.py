"""What one request can cost (issue 20, finding 2): a body of 110,000 unknown keys made
110,000 errors and a 9.7 MB answer on the event loop, and Markdown rendered there too
(0.3-0.5 s for the worst 20,000 characters). Now a 422 names at most
MAX_REPORTED_ERRORS errors and counts the rest, and Markdown renders in its own thread."""

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import pytest
from pydantic import ValidationError

from content import markdown_render
from schemas import MAX_REPORTED_ERRORS, PasskeySignIn, PasswordResetRequest, UserCreate
from tests.helpers import STRONG_PASSWORD

UNKNOWN_KEYS = 110_000
# Just under the 1 MiB body limit: keys "0", "1", ... "1adaf" in hexadecimal.
HOSTILE = {format(n, "x"): 0 for n in range(UNKNOWN_KEYS)}
HOSTILE_BODY = json.dumps(HOSTILE, separators=(",", ":")).encode()
JSON = {"Content-Type": "application/json"}
SMALL_ANSWER = 2048  # bytes


# --- Validation errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/users/password-reset",
        "/api/users",
        "/api/users/verify-email",
        "/api/users/token/passkey",
    ],
)
def test_a_body_of_110000_unknown_keys_gets_a_small_422(client, path):
    response = client.post(path, content=HOSTILE_BODY, headers=JSON)
    assert response.status_code == 422
    assert len(response.content) < SMALL_ANSWER
    *named, summary = response.json()["detail"]
    shown = MAX_REPORTED_ERRORS - 1
    assert [(e["type"], e["loc"]) for e in named] == [
        ("extra_forbidden", ["body", format(n, "x")]) for n in range(shown)
    ]
    assert summary["type"] == "too_many_errors"
    assert summary["loc"] == ["body"]
    assert summary["ctx"]["count"] == UNKNOWN_KEYS - shown
    assert summary["msg"] == f"{UNKNOWN_KEYS - shown} more unknown fields not listed"


@pytest.mark.parametrize("model", [PasswordResetRequest, UserCreate, PasskeySignIn])
def test_unknown_keys_make_no_error_each(model):
    """The work is bounded where the errors are made, not only cut from the answer."""
    with pytest.raises(ValidationError) as refused:
        model.model_validate(HOSTILE)
    assert refused.value.error_count() == MAX_REPORTED_ERRORS


def test_a_few_mistakes_are_all_named_as_before(client):
    response = client.post("/api/users/password-reset", json={"emial": "a@example.com"})
    assert response.status_code == 422
    assert [(e["type"], e["loc"]) for e in response.json()["detail"]] == [
        ("missing", ["body", "email"]),
        ("extra_forbidden", ["body", "emial"]),
    ]


def test_any_long_list_of_errors_is_cut_and_counted(client):
    """Ten unknown keys pass the model's own cut, but with three fields missing make
    thirteen errors: the 422 handler cuts any list, whatever made it."""
    body = {f"extra{n}": n for n in range(MAX_REPORTED_ERRORS)}
    response = client.post("/api/users", json=body)
    assert response.status_code == 422
    *named, summary = response.json()["detail"]
    assert len(named) == MAX_REPORTED_ERRORS - 1
    assert [e["loc"] for e in named[:3]] == [["body", f] for f in ("username", "email", "password")]
    assert summary["type"] == "too_many_errors"
    assert summary["loc"] == ["body"]
    assert summary["msg"] == "4 more errors not listed"
    assert summary["ctx"]["count"] == 4


def test_a_valid_body_still_passes(client):
    body = {"username": "Bounded", "email": "bounded@example.com", "password": STRONG_PASSWORD}
    assert client.post("/api/users", json=body).status_code == 201


# --- Markdown -----------------------------------------------------------------------

# Among the slowest sources of 20,000 characters found (linear time, but ~20 µs a
# character; a table of 10,000 empty rows is as slow).
WORST_MARKDOWN = ["![" * 10_000, "[" * 20_000]


@pytest.fixture
def render_threads(monkeypatch) -> list[str]:
    """The name of the thread each render ran in."""
    threads: list[str] = []
    adjust = markdown_render._adjust

    def recording(tokens: list) -> None:
        threads.append(threading.current_thread().name)
        adjust(tokens)

    # Private, and unavoidable: which thread renders is seen only from inside a render.
    monkeypatch.setattr(markdown_render, "_adjust", recording)
    markdown_render._render_cached.cache_clear()
    return threads


def test_markdown_renders_once_and_off_the_event_loop(client, alice, render_threads):
    headers = alice.headers
    assert client.post("/api/posts/preview", json={"content": "*one*"}, headers=headers).is_success
    post = client.post("/api/posts", json={"title": "T", "content": "*two*"}, headers=headers)
    path = f"/api/posts/{post.json()['id']}"
    assert client.put(path, json={"title": "T", "content": "*three*"}, headers=headers).is_success
    assert client.patch(path, json={"content": "*four*"}, headers=headers).is_success
    assert client.patch(path, json={"title": "Only the title"}, headers=headers).is_success
    assert len(render_threads) == 4  # the post's own render on assignment found each one
    assert all(name.startswith("markdown") for name in render_threads), render_threads


def test_a_read_is_answered_while_slow_markdown_renders(client, alice):
    """Three of the slowest previews in flight: a request sent after them is answered
    before the first of them (rendered on the event loop, it waited for one at least)."""
    finished: list[str] = []

    def timed(name: str, call: Callable[[], httpx.Response]) -> None:
        assert call().is_success
        finished.append(name)

    def preview(n: int) -> httpx.Response:
        source = WORST_MARKDOWN[0][:-2] + str(n)  # distinct: none is a cached render
        return client.post("/api/posts/preview", json={"content": source}, headers=alice.headers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        calls = [pool.submit(timed, f"preview{n}", partial(preview, n)) for n in range(3)]
        time.sleep(0.2)  # the first render is under way
        me = partial(client.get, "/api/users/me", headers=alice.headers)
        calls.append(pool.submit(timed, "me", me))
        for call in calls:
            call.result()
    assert finished[0] == "me", finished


@pytest.mark.parametrize("source", WORST_MARKDOWN)
def test_the_worst_markdown_found_is_answered(client, alice, source):
    response = client.post("/api/posts/preview", json={"content": source}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["html"]


def test_renders_beyond_the_queue_are_refused_with_retry_after(client, alice, monkeypatch):
    full = threading.BoundedSemaphore(1)
    full.acquire()
    # Private, and unavoidable: a full queue, without racing real renders to fill it.
    monkeypatch.setattr(markdown_render, "_render_slots", full)
    response = client.post("/api/posts/preview", json={"content": "x"}, headers=alice.headers)
    assert response.status_code == 503
    assert response.json()["code"] == "rendering_busy"
    assert response.headers["Retry-After"] == str(markdown_render.RENDER_RETRY_AFTER)
