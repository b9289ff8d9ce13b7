"""Uploaded images are decoded under bounds whatever the file claims (images/): pixels
capped from the header, each decode in a child with memory and time limits, a bounded
pool, a per-account upload limit; and the server keeps serving meanwhile. The hostile
files are made here, by hand, a few KB each."""

import asyncio
import contextlib
import io
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from errors.domain import DomainError
from images import decode, limits
from images import pool as image_pool
from tests.helpers import (
    make_account,
    palette_png,
    png,
    progressive_jpeg,
    settings_changed,
)
from tests.live_server import LiveServer
from tests.test_pictures import PICTURE, upload

T = TypeVar("T")

MIB = 2**20
# The answers of a decode stopped at its deadline: the file's fault, or a busy machine's.
STOPPED = ("image_too_complex", "busy")


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a thread of its own: the browser tests' Playwright keeps an
    event loop running in the main thread for the whole session."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def kib(pid: int, field: str) -> int:
    """A figure of /proc/<pid>/status in KiB (VmRSS, VmHWM), 0 once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # gone
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith(f"{field}:")), 0)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (the decoding children among them)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):  # gone meanwhile
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def decoders(pid: int) -> int:
    """How many decoding children the server has right now."""
    count = 0
    for child in process_tree(pid)[1:]:
        with contextlib.suppress(OSError):  # gone meanwhile
            count += b"images.decode" in Path(f"/proc/{child}/cmdline").read_bytes()
    return count


class TreeRss:
    """Samples the resident memory of a process and all its children, in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self.stopped.wait(0.005):
            self.peak = max(self.peak, sum(kib(pid, "VmRSS") for pid in process_tree(self.pid)))

    def __enter__(self) -> "TreeRss":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One live server for this module, four decoders at once."""
    env = {"IMAGE_WORKERS": "4", "IMAGE_QUEUE": "4"}
    live = LiveServer(tmp_path_factory.mktemp("images"), env=env)
    live.wait_until_ready()
    yield live
    live.stop()


def signed_in(server: LiveServer, username: str) -> dict[str, str]:
    """The headers of a new account on `server`, logged in."""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        return make_account(http, username).headers


def put_picture(server: LiveServer, headers: dict[str, str], data: bytes) -> httpx.Response:
    files = {"file": ("me.img", data, "application/octet-stream")}
    return httpx.put(f"{server.base_url}{PICTURE}", files=files, headers=headers, timeout=60)


def test_a_12_kb_png_declaring_100_megapixels_is_refused_in_bounded_memory(server):
    bomb = palette_png(10_000, 10_000)
    assert len(bomb) < 16 * 1024
    headers = signed_in(server, "Pngbomb")
    pid = server.process.pid
    peak_before, rss_before = kib(pid, "VmHWM"), kib(pid, "VmRSS")
    with TreeRss(pid) as tree, ThreadPoolExecutor(4) as uploads:
        responses = list(uploads.map(lambda _: put_picture(server, headers, bomb), range(4)))
    for response in responses:
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "too_many_pixels"
        assert "10000 x 10000" in response.json()["detail"]
    # Decoded, each would have taken about 1 GiB of the server (4 GiB, held after).
    assert (kib(pid, "VmHWM") - peak_before) * 1024 < 64 * MIB
    # The server and its decoding children together: no picture was decoded anywhere.
    assert (tree.peak - rss_before) * 1024 < 4 * 64 * MIB


def test_hostile_progressive_jpegs_are_refused_from_the_header(server):
    headers = signed_in(server, "Jpegbomb")
    # 100 megapixels in the header: refused before a scan is read.
    huge = put_picture(server, headers, progressive_jpeg(10_000, 10_000, 1_400))
    assert huge.status_code == 422, huge.text
    assert huge.json()["code"] == "too_many_pixels"
    # 25 megapixels pass, but 20,000 scans would be a minute of CPU in 200 KB.
    scans = put_picture(server, headers, progressive_jpeg(5_000, 5_000, 20_000))
    assert scans.status_code == 422, scans.text
    assert scans.json()["code"] == "image_too_complex"
    assert "20001 scans" in scans.json()["detail"]


def test_me_is_served_first_while_the_costliest_allowed_jpegs_decode(server):
    headers = signed_in(server, "Jpegheavy")
    # What the caps still let through, at its dearest: 25 megapixels, 500 scans (about
    # a second of CPU each).
    heavy = progressive_jpeg(5_000, 5_000, limits.MAX_JPEG_SCANS - 1)
    finished: list[tuple[str, httpx.Response]] = []  # in the order they came back

    def hostile() -> None:
        finished.append(("upload", put_picture(server, headers, heavy)))

    uploads = [threading.Thread(target=hostile) for _ in range(4)]
    for thread in uploads:
        thread.start()
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http:
        seen = 0
        for _ in range(1000):  # until all four decode, each in a child of its own
            seen = decoders(server.process.pid)
            if seen == 4 or finished:
                break
            threading.Event().wait(0.005)
        assert seen == 4, finished
        for _ in range(5):
            finished.append(("me", http.get("/api/users/me")))
    for thread in uploads:
        thread.join()
    assert [kind for kind, _ in finished] == ["me"] * 5 + ["upload"] * 4
    for kind, response in finished:
        if kind == "me":
            assert response.status_code == 200
        else:  # decoded; or, on a machine too busy to give it 10 s, stopped
            assert response.status_code in (200, 422, 503), response.text
            assert response.status_code == 200 or response.json()["code"] in STOPPED
    assert decoders(server.process.pid) == 0  # each one ended, none left behind


def test_a_decode_past_its_deadline_is_stopped():
    # About a second of CPU (see above), a tenth of that allowed: killed, whatever
    # the machine (and which answer depends on how much of the CPU it had).
    heavy = progressive_jpeg(5_000, 5_000, limits.MAX_JPEG_SCANS - 1)
    with settings_changed(image_decode_seconds=0.1), pytest.raises(DomainError) as refused:
        run_apart(image_pool.reencode(heavy, side=512))
    assert refused.value.code in STOPPED


def test_a_decode_stopped_at_its_deadline_blames_the_file_only_if_it_had_the_cpu():
    worked = image_pool.past_deadline(used=0.6, seconds=1)
    assert (worked.status_code, worked.code) == (422, "image_too_complex")
    assert "more than 1 s" in worked.detail
    starved = image_pool.past_deadline(used=0.1, seconds=1)  # a busy machine's fault
    assert (starved.status_code, starved.code) == (503, "busy")
    assert int(starved.headers["Retry-After"]) > 0
    assert image_pool.past_deadline(used=None, seconds=1).code == "image_too_complex"


def test_the_cpu_time_of_a_process_is_read():
    spent = image_pool.cpu_seconds(os.getpid())
    assert spent is not None
    assert spent > 0
    assert image_pool.cpu_seconds(2**22 + 1) is None  # above pid_max: no such process


def test_a_decode_past_its_memory_limit_is_refused():
    # 25 megapixels: 25 MB as a palette image, 75 MB more as RGB.
    picture = palette_png(5_000, 5_000)
    with settings_changed(image_decode_memory_mb=64), pytest.raises(DomainError) as refused:
        run_apart(image_pool.reencode(picture, side=512))
    assert refused.value.status_code == 422
    assert refused.value.code == "image_too_complex"
    assert "more than 64 MiB" in refused.value.detail
    # However busy the machine, with the shipped memory: decoded.
    with settings_changed(image_decode_memory_mb=512, image_decode_seconds=60):
        webp = run_apart(image_pool.reencode(picture, side=512))
    assert Image.open(io.BytesIO(webp)).size == (512, 512)


def test_the_pool_runs_so_many_queues_so_many_more_then_answers_503():
    async def scenario() -> list[str]:
        pool = image_pool.DecodePool(workers=1, queue=1)
        release = asyncio.Event()
        ran: list[str] = []

        async def job(name: str) -> None:
            async with pool.slot():
                ran.append(name)
                await release.wait()

        first = asyncio.create_task(job("first"))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(job("gives up"))
        await asyncio.sleep(0)
        assert pool.busy
        with pytest.raises(DomainError) as refused:
            await job("refused")
        assert refused.value.status_code == 503
        assert refused.value.code == "busy"
        assert int(refused.value.headers["Retry-After"]) > 0
        waiting.cancel()  # a client that went away leaves its place in the queue
        await asyncio.sleep(0)
        assert not pool.busy
        second = asyncio.create_task(job("second"))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, second)
        assert not pool.busy
        async with pool.slot():  # and every slot came back
            pass
        return ran

    assert run_apart(scenario()) == ["first", "second"]


@pytest.mark.settings(uploads_per_hour=3)
def test_uploads_per_account_and_hour_count_refused_files_too(client, alice, bob):
    for _ in range(3):
        response = upload(client, alice.headers, b"not a picture", "a.txt", "text/plain")
        assert response.status_code == 415
    refused = upload(client, alice.headers, png(20, 20), "ok.png", "image/png")
    assert refused.status_code == 429
    assert refused.json()["code"] == "upload_limit"
    assert refused.json()["detail"].startswith("At most 3 picture uploads an hour")
    assert int(refused.headers["Retry-After"]) > 0
    assert upload(client, bob.headers, png(20, 20), "ok.png", "image/png").status_code == 200


def test_a_picture_can_also_be_fitted_whole_for_posts():
    webp = decode.reencode(png(2000, 1000), side=512, shape="fit")
    assert Image.open(io.BytesIO(webp)).size == (512, 256)
