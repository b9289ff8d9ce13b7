"""Scheduled posts go live at their time by themselves, on every worker.

Each worker runs one Publisher. It asks the database when the next scheduled post is
due and sleeps until then, but never longer than PUBLISH_CHECK_SECONDS, so a post
scheduled through another worker is seen soon enough. When one is due it is made
published in a transaction of its own; that write bumps the content version (migration
0010's triggers), so every worker's page cache and every ETag change at that moment.
Workers that find the same post due at once do the same idempotent write. No request
waits for any of this, and none reads the database for it.
"""

import logging

from background.periodic import PeriodicJob
from config import get_settings
from content.posts import next_scheduled, publish_due
from models import utcnow

logger = logging.getLogger("inkwell.scheduler")


class Publisher(PeriodicJob):
    """Publishes due scheduled posts; one per worker."""

    name = "post-publisher"

    def retry_pause(self) -> float:
        return get_settings().publish_check_seconds

    async def run_once(self) -> float:
        return await self.publish_due()

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
