import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import cast

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")

app = Celery("reviewapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each Django app's tasks module, and those of the stages that are packages inside an app.
app.autodiscover_tasks()
app.autodiscover_tasks(
    [
        "workflows.pipeline",
        "workflows.act",
        "reviewapp.review.judges",
        "reviewapp.learn.training",
        "reviewapp.learn.monitoring",
    ]
)


def ensure_broker_folders() -> None:
    """kombu's filesystem transport raises FileNotFoundError unless its folders exist."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


ensure_broker_folders()


# Seconds a worker that hit an unrecoverable error gets to stop cleanly before it is ended.
UNRECOVERABLE_GRACE_SECONDS = 10.0


class ExitOnUnrecoverableError(logging.Handler):
    """End a worker whose consumer died, so its supervisor starts a fresh one.

    Celery logs "Unrecoverable error" and then stops the worker cleanly, but that stop can hang
    for ever on a broken broker connection (seen after a Redis restart: the main process stays
    alive, answers no ping and takes no message). Compose's ``restart: unless-stopped`` only
    helps a process that exits, so after a grace period we end the pool and exit.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.CRITICAL and "Unrecoverable error" in record.getMessage():
            timer = threading.Timer(UNRECOVERABLE_GRACE_SECONDS, _end_worker)
            timer.daemon = True
            timer.start()


def _end_worker() -> None:
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may contain spaces, so split after its ")".
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(stat.parent.name), signal.SIGKILL)
    os._exit(1)


@signals.worker_init.connect
def _watch_for_unrecoverable_errors(**_) -> None:
    logging.getLogger("celery.worker").addHandler(ExitOnUnrecoverableError())


# --- heartbeats and sweep runs (reviewapp.heartbeats) ----------------------------------------
# Imported inside the handlers: this module loads before Django's apps are ready.


@signals.worker_ready.connect
def _worker_heartbeat_start(sender=None, **_) -> None:
    from reviewapp.heartbeats import worker_started

    worker_started(sender.hostname)


@signals.worker_shutdown.connect
def _worker_heartbeat_stop(sender=None, **_) -> None:
    from reviewapp.heartbeats import heartbeat_stop

    heartbeat_stop(name=sender.hostname)


@signals.beat_init.connect
def _beat_heartbeat_start(**_) -> None:
    from reviewapp.heartbeats import beat_started

    beat_started()


@signals.task_prerun.connect
def _sweep_started(task=None, **_) -> None:
    from reviewapp.heartbeats import sweep_started

    sweep_started(task.name)


@signals.task_postrun.connect
def _sweep_finished(task=None, retval=None, state=None, **_) -> None:
    from reviewapp.heartbeats import describe, sweep_finished

    sweep_finished(task.name, succeeded=state == "SUCCESS", summary=describe(retval))


# --- database connections -------------------------------------------------------------------
# Celery's Django fixup closes the database connection before and after every task unless
# CELERY_DB_REUSE_MAX is set: a fresh PostgreSQL connection (a server process forked, a
# handshake) per task cost more CPU than the resume of a reviewed item itself. Workers keep
# their connections under Django's own rules instead, as the web tier does around a request:
# before and after each task a connection that outlived CONN_MAX_AGE, saw an error or was left
# outside autocommit is closed, and a kept one is pinged on its first use (CONN_HEALTH_CHECKS),
# so a connection broken by a killed query is not reused.
app.conf.CELERY_DB_REUSE_MAX = sys.maxsize


@signals.task_prerun.connect
@signals.task_postrun.connect
def _database_connections_checked(task=None, **_) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


# --- task metrics (reviewapp.core.metrics) ----------------------------------------------------
# Start times by task id, in the process that runs the task (a pool child).
_task_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_clock_start(task_id=None, **_) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_clock_stop(task_id=None, task=None, state=None, **_) -> None:
    from reviewapp.core.metrics import count, observe, series

    started = _task_started.pop(task_id, None) if task_id else None
    name = getattr(task, "name", "unknown")
    count(series.CELERY_TASKS, task=name, state=str(state or "unknown").lower())
    if started is not None:
        observe(series.CELERY_TASK_SECONDS, time.perf_counter() - started, task=name)


# --- JSON logs in the worker ------------------------------------------------------------------
# Celery replaces the root logger's handlers with its own; with LOG_FORMAT=json its lines are
# made JSON too, with the correlation and trace ids, as the web process writes them.


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _json_logs(logger=None, **_) -> None:
    from django.conf import settings

    from reviewapp.core.logs import CorrelationFilter, JsonFormatter

    console = cast(dict, settings.LOGGING)["handlers"]["console"]
    if logger is None or console.get("formatter") != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())
        handler.addFilter(CorrelationFilter())


# --- traces (reviewapp.core.tracing) ------------------------------------------------------------
# After the fork, in each pool process: the span processor's thread and the exporter's
# connections do not survive a fork. A worker without a forking pool (solo, threads) has no pool
# processes and sets tracing up in its main process.


@signals.worker_process_init.connect
def _tracing_start_in_pool_process(**_) -> None:
    from reviewapp.core.tracing import tracing_configure

    tracing_configure(role="worker")


@signals.worker_init.connect
def _tracing_start_without_pool_processes(sender=None, **_) -> None:
    pool = getattr(sender, "pool_cls", None)
    name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if "prefork" in str(name) or "processes" in str(name):
        return
    from reviewapp.core.tracing import tracing_configure

    tracing_configure(role="worker")


@signals.worker_process_shutdown.connect
def _tracing_flush(**_) -> None:
    from reviewapp.core.tracing import tracing_flush

    tracing_flush()
