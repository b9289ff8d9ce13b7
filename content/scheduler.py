"""Scheduled posts go live at their time by themselves, on every worker.

Each worker runs one Publisher. It asks the database when the next scheduled post is
due and sleeps until then, but never longer than PUBLISH_CHECK_SECONDS, so a post
scheduled through another worker is seen soon enough. When one is due it is made
published in a transaction of its own; that write bumps the content version (migration
0010's triggers), so every worker's page cache and every ETag change at that moment.
Workers that find the same post due at once do the same idempotent write. No request
waits for any of this, and none reads the database for it.
"""

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import get_settings
from content.posts import next_scheduled, publish_due
from models import utcnow

logger = logging.getLogger("inkwell.scheduler")


class Publisher:
    """Publishes due scheduled posts; started and stopped by the app's lifespan."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="post-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                pause = await self.publish_due()
            except Exception:
                logger.exception("Scheduled posts could not be checked; trying again shortly")
                pause = get_settings().publish_check_seconds
            await asyncio.sleep(pause)

    async def publish_due(self) -> float:
        """Publish what is due; the seconds to sleep before looking again."""
        longest = get_settings().publish_check_seconds
        async with self.sessionmaker() as session:
            now = utcnow()
            if published := await publish_due(session, now):
                await session.commit()
                logger.info("Published %d scheduled post(s)", published)
            upcoming = await next_scheduled(session)
        if upcoming is None:
            return longest
        return min(max((upcoming - utcnow()).total_seconds(), 0.0), longest)
