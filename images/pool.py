"""The app's side of decoding: at most `settings.image_workers` decoding children at
once per app worker, at most `settings.image_queue` uploads waiting for one (beyond
that 503 with Retry-After), each child killed at its wall deadline. Never the default
thread executor: a hostile file must not hold what other requests need.
"""

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from config import Settings, get_settings
from errors.domain import DomainError
from images import decode
from schemas import refused_422

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).parents[1]
# Seconds a client is asked to wait when every decoder is taken and the queue is full.
BUSY_RETRY_AFTER = 5
# The answer for each refusal the child names (422: a picture, but not one we process).
REFUSAL_STATUS = {
    "not_a_picture": 415,
    "too_large": 413,
    "too_many_pixels": 422,
    "image_too_complex": 422,
}

# The OpenAPI entry for a route's 422: a form that did not validate (FastAPI's list), or
# a picture refused with a code: too_many_pixels, image_too_complex.
REFUSED_422 = refused_422(
    "The form did not validate, or the picture has too many pixels (`too_many_pixels`) "
    "or could not be decoded within the time and memory limits (`image_too_complex`)"
)


def too_complex(why: str) -> DomainError:
    logger.warning("An image decode was stopped: %s", why)  # someone may be trying
    return DomainError(
        422,
        "image_too_complex",
        f"The picture could not be decoded within the limits ({why}); "
        "try a smaller or simpler file",
    )


def busy(detail: str) -> DomainError:
    """503: the file may be fine, the server has no room for it now."""
    return DomainError(503, "busy", detail, headers={"Retry-After": str(BUSY_RETRY_AFTER)})


def cpu_seconds(pid: int) -> float | None:
    """The CPU time a live process has used (Linux's /proc), None if it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command's name, which may hold ")"
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def past_deadline(*, used: float | None, seconds: float) -> DomainError:
    """The answer for a child stopped at its deadline. Running at a low priority, it
    may have had little of the CPU while the machine was busy with requests: under
    half the deadline's worth, the file is not to blame (503, try again); otherwise
    it is (422)."""
    if used is not None and used < seconds / 2:
        logger.warning(
            "An image decode had %.2f s of CPU in %g s: the machine is busy", used, seconds
        )
        return busy(
            "The server is too busy to process pictures right now; please try again shortly"
        )
    return too_complex(f"it took more than {seconds:g} s")


class DecodePool:
    """Slots for decoding children: `workers` at once, `queue` more waiting in order."""

    def __init__(self, *, workers: int, queue: int) -> None:
        self.workers = workers
        self.queue = queue
        self._running = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @classmethod
    def from_settings(cls, settings: Settings) -> "DecodePool":
        return cls(workers=settings.image_workers, queue=settings.image_queue)

    @property
    def busy(self) -> bool:
        """Every slot taken and the queue full: a new job would be refused."""
        return self._running >= self.workers and len(self._waiting) >= self.queue

    @staticmethod
    def busy_error() -> DomainError:
        return busy("Too many pictures are being processed; please try again shortly")

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot while the block runs, after waiting in line; 503 if the line is
        full."""
        if self._running < self.workers and not self._waiting:
            self._running += 1
        elif len(self._waiting) >= self.queue:
            raise self.busy_error()
        else:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                await turn  # the slot is handed over by _release: _running stays
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed over just as we left: pass it on
                else:
                    self._waiting.remove(turn)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._running -= 1


_pool: DecodePool | None = None


def use_pool(pool: DecodePool | None) -> None:
    """Make `pool` this app worker's (the lifespan installs one sized from the app's
    settings at start-up, and takes it away when it stops)."""
    global _pool
    _pool = pool


def decode_pool() -> DecodePool:
    """This app worker's pool; outside an app, one made now from the settings."""
    if _pool is None:
        use_pool(DecodePool.from_settings(get_settings()))
    assert _pool is not None
    return _pool


async def reencode(upload: bytes, *, side: int, shape: str = "square") -> bytes:
    """`upload` decoded in a child under the limits and re-encoded as a WebP (see
    images.decode for `side` and `shape`); a refusal as an DomainError (413, 415, 422),
    503 when the pool is full."""
    async with decode_pool().slot():
        return await _run_child(upload, side=side, shape=shape)


async def _run_child(upload: bytes, *, side: int, shape: str) -> bytes:
    seconds = get_settings().image_decode_seconds
    memory_mb = get_settings().image_decode_memory_mb
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "images.decode",
        str(memory_mb),
        str(math.ceil(seconds)),
        str(side),
        shape,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=PROJECT_ROOT,
        env={},  # nothing of the app's environment (its secrets) reaches the decoder
    )
    try:
        async with asyncio.timeout(seconds):
            out, err = await child.communicate(upload)
    except TimeoutError:
        used = cpu_seconds(child.pid)
        child.kill()
        await child.wait()
        raise past_deadline(used=used, seconds=seconds) from None
    finally:
        if child.returncode is None:  # cancelled (the client went away): no orphan
            child.kill()
            await child.wait()
    status = child.returncode
    if status == 0:
        return out
    if status == decode.REFUSED:
        refusal = json.loads(out)
        raise DomainError(REFUSAL_STATUS[refusal["code"]], refusal["code"], refusal["detail"])
    if status == decode.TOO_COMPLEX:
        raise too_complex(f"it needed more than {memory_mb} MiB")
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        raise too_complex(f"it took more than {math.ceil(seconds)} s of CPU time")
    # Anything else is a bug (or a crash the file caused): a 500, and the log says why.
    raise RuntimeError(f"image decoder exited with {status}: {err.decode(errors='replace')}")
