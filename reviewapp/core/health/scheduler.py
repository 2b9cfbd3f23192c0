"""Celery beat's scheduler with a leader lease: run as many beat processes as you like (one per
host, or a standby beside the active one); exactly one sends the sweeps, and a standby takes
over within one lease period when the leader dies.

Selected by ``CELERY_BEAT_SCHEDULER``. Django is set up before beat builds its scheduler, but the
models are imported inside the methods so that loading this module stays cheap.
"""

import logging
import uuid
from pathlib import Path

from celery.beat import PersistentScheduler
from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


class LeaderScheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs) -> None:
        self.token = uuid.uuid4().hex
        self.fence: int | None = None
        self.lease_seconds = float(settings.REVIEWAPP_BEAT_LEASE_SECONDS)
        # Renew three times per lease, so one slow renewal does not lose it.
        self.renew_every = self.lease_seconds / 3
        super().__init__(*args, **kwargs)
        # Touched on every tick, leader or standby: a health check for the process itself.
        self.alive_path = Path(f"{self.schedule_filename}.alive")

    def tick(self, *args, **kwargs) -> float:
        self._touch_alive()
        self._hold_lease()
        if self.fence is None:
            return self.renew_every
        return min(super().tick(*args, **kwargs), self.renew_every)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        from reviewapp.core.health.lease import lease_dispatch

        if self.fence is None or not self._ask(lease_dispatch, token=self.token, fence=self.fence):
            self._lost()
            return None
        return super().apply_async(entry, producer=producer, advance=advance, **kwargs)

    def close(self) -> None:
        from reviewapp.core.health.lease import lease_release

        if self.fence is not None:
            self._ask(lease_release, token=self.token)
            logger.info("beat lease released")
        super().close()

    def _hold_lease(self) -> None:
        from reviewapp.core.health.lease import beat_name, lease_hold

        fence = self._ask(
            lease_hold, holder=beat_name(), token=self.token, seconds=self.lease_seconds
        )
        if fence is None:
            self._lost()
        elif fence != self.fence:
            self.fence = fence
            logger.info("beat lease taken (fence %s): this beat sends the sweeps", fence)

    def _lost(self) -> None:
        if self.fence is not None:
            logger.warning("beat lease lost (fence %s): standing by", self.fence)
        self.fence = None

    def _ask(self, call, **kwargs):
        # The database may be restarting: stand by (send nothing) and try again next tick.
        try:
            return call(**kwargs)
        except DatabaseError:
            logger.warning("the beat lease cannot be read or written", exc_info=True)
            connection.close()
            return None

    def _touch_alive(self) -> None:
        try:
            self.alive_path.touch()
        except OSError:
            logger.warning("cannot touch %s", self.alive_path, exc_info=True)
