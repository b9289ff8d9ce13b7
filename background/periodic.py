"""A job each worker runs now and then, started and stopped by the app's lifespan
(main.py): scheduled posts going live (content/scheduler.py), unused images collected
(images/media.py). A failed run is logged and tried again later; it never stops the job."""

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger("inkwell.background")


class PeriodicJob(ABC):
    name: str  # the asyncio task's name, and the logs'
    first_pause: float = 0  # seconds from start-up to the first run

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def run_once(self) -> float:
        """One run; the seconds to wait before the next."""

    def retry_pause(self) -> float:
        """The seconds to wait after a failed run."""
        return 60.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        pause = self.first_pause
        while True:
            await asyncio.sleep(pause)
            try:
                pause = await self.run_once()
            except Exception:
                logger.exception("%s failed; trying again shortly", self.name)
                pause = self.retry_pause()
