"""Heartbeats of the Celery worker and beat processes, and the record of each sweep's runs.

Connected to Celery's signals in ``reviewapp.celery``. A daemon thread in the worker's main
process (and in beat) writes the process's row every ``REVIEWAPP_HEARTBEAT_SECONDS``, with the
items the worker is running or holds for a retry, so the reconciler can tell lost work from work
in hand. Each write opens and closes its own database connection: the worker forks pool
processes at any time, and a connection held open across a fork could be closed under us by the
child.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from reviewapp.core.health.lease import beat_name
from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.services import (
    heartbeat_beat,
    heartbeat_forget,
    sweep_run_finished,
    sweep_run_started,
)
from workflows.pipeline.engine import RUN_ITEMS_TASK
from workflows.seams import RESUME_TASK

logger = logging.getLogger(__name__)

# How a pipeline task's arguments name the items it works on.
ITEMS_OF_TASK: dict[str, Callable[[tuple], Iterable[int]]] = {
    RUN_ITEMS_TASK: lambda args: args[0],
    RESUME_TASK: lambda args: [args[0]],
}
# A scheduled request whose time passed this long ago is stale bookkeeping, not held work.
SCHEDULED_SLACK_SECONDS = 60


class Heartbeat(threading.Thread):
    def __init__(
        self,
        *,
        name: str,
        kind: str,
        holding: Callable[[], Iterable[int]] = tuple,
        tasks: Callable[[], dict[str, int]] = dict,
    ):
        super().__init__(name=f"heartbeat {name}", daemon=True)
        self.process_name = name
        self.kind = kind
        self.holding = holding
        self.tasks = tasks
        self.started_at = timezone.now()
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            self.beat()
            if self.stopping.wait(settings.REVIEWAPP_HEARTBEAT_SECONDS):
                return

    def beat(self) -> None:
        try:
            heartbeat_beat(
                name=self.process_name,
                kind=self.kind,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
                holding=self.holding(),
                tasks=self.tasks(),
            )
        except Exception:  # the database may be restarting: say so and try again next beat
            logger.warning("could not write the heartbeat of %s", self.process_name, exc_info=True)
        finally:
            connection.close()

    def stop(self, *, forget: bool) -> None:
        self.stopping.set()
        self.join(timeout=settings.REVIEWAPP_HEARTBEAT_SECONDS + 5)
        if forget:
            try:
                heartbeat_forget(name=self.process_name)
            except Exception:
                logger.warning("could not forget the heartbeat of %s", self.process_name)
            finally:
                connection.close()


def worker_holding() -> set[int]:
    """Items of the tasks this worker runs now or has scheduled (a retry's countdown)."""
    from celery.worker import state

    for _ in range(5):  # the sets change under us while the consumer works: copy, retry
        try:
            active = list(state.active_requests)
            scheduled = list(state.scheduled_requests)
            break
        except RuntimeError:
            continue
    else:
        return set()
    now = time.time()
    held: set[int] = set()
    for request in active + scheduled:
        items_of = ITEMS_OF_TASK.get(request.name)
        if items_of is None:
            continue
        if request in scheduled and request.eta:
            eta = request.eta if isinstance(request.eta, float) else _timestamp(request.eta)
            if eta is not None and eta < now - SCHEDULED_SLACK_SECONDS:
                continue
        try:
            held.update(int(item_id) for item_id in items_of(tuple(request.args)))
        except (IndexError, TypeError, ValueError):
            continue
    return held


def _timestamp(eta) -> float | None:
    try:
        from datetime import datetime

        return (eta if isinstance(eta, datetime) else datetime.fromisoformat(eta)).timestamp()
    except (TypeError, ValueError):
        return None


def worker_tasks() -> dict[str, int]:
    from celery.worker import state

    return dict(state.total_count)


_running: dict[str, Heartbeat] = {}


def heartbeat_start(*, name: str, kind: str, **sources) -> None:
    if name in _running:
        return
    thread = Heartbeat(name=name, kind=kind, **sources)
    _running[name] = thread
    thread.start()


def heartbeat_stop(*, name: str) -> None:
    thread = _running.pop(name, None)
    if thread is not None:
        thread.stop(forget=True)


def worker_started(hostname: str) -> None:
    heartbeat_start(
        name=hostname, kind=ProcessKind.WORKER, holding=worker_holding, tasks=worker_tasks
    )


def beat_started() -> None:
    heartbeat_start(name=beat_name(), kind=ProcessKind.BEAT)


def sweep_names() -> set[str]:
    schedule: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    return {entry["task"] for entry in schedule.values()}


def sweep_started(task_name: str) -> None:
    if task_name in sweep_names():
        _record(sweep_run_started, name=task_name)


def sweep_finished(task_name: str, *, succeeded: bool, summary: str) -> None:
    if task_name in sweep_names():
        _record(sweep_run_finished, name=task_name, succeeded=succeeded, summary=summary)


def _record(write: Callable[..., None], **fields) -> None:
    # Bookkeeping must never fail the sweep it describes.
    try:
        write(**fields)
    except Exception:
        logger.warning("could not record the run of %s", fields.get("name"), exc_info=True)


def describe(value: object) -> str:
    """A sweep's return value for people: counts as "name n", an error as its message."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, dict):
        return ", ".join(
            f"{key.replace('_', ' ')} {describe(inner)}" for key, inner in value.items()
        )
    if isinstance(value, list | tuple | set):
        return str(len(value))
    return "" if value is None else str(value)
