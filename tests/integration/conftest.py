"""A real Celery worker process on the real broker, working on the pytest-django test database.

The worker is a separate process: it sees only what the test has committed, so the tests that
use it are transactional. It starts once per module (about two seconds) and every test waits for
it to be idle before it ends, so no test leaves work behind for the next one.

Tests that stop or restart the broker use ``private_worker`` instead: a worker of their own on a
``redis-server`` of their own (``private_redis``), never the machine's Redis.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu.exceptions import OperationalError

from reviewapp.celery import app as celery_app
from tests.support.redis_server import BROKER_ENV, RedisServer, celery_app_on_broker

PROJECT_DIR = Path(__file__).resolve().parents[2]
CELERY_BIN = Path(sys.executable).parent / "celery"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 200
WORKER_LOG = pytest.StashKey[Path]()
LOG_OFFSET = pytest.StashKey[int]()


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: Callable[[], str]):
    """Poll another process's progress until ``predicate()`` holds, or fail saying ``what()``.

    The short sleep waits for the worker to do its work, not for time to pass.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s: {what()}")
        time.sleep(0.1)


def database_url() -> str:
    """The URL of the database this test process uses, i.e. pytest-django's test database."""
    db = connection.settings_dict
    assert db["ENGINE"] == "django.db.backends.postgresql", db["ENGINE"]
    assert db["NAME"].startswith("test_"), "the worker must never touch a non-test database"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{credentials}@" if credentials else ""
    host += db["HOST"] or "localhost"
    if db["PORT"]:
        host += f":{db['PORT']}"
    return f"postgres://{host}/{quote(db['NAME'], safe='')}"


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path
    argv: list[str]
    env: dict[str, str]

    def restart(self) -> None:
        """Start the worker again under the same name, as a supervisor would after it died."""
        assert self.process.poll() is not None, "restart() is for a worker that has exited"
        self.process = _spawn(self.argv, self.env, self.log_path)
        _wait_for_ping(self)

    def log_tail(self, start: int = 0) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            lines = handle.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _inspect(self):
        return celery_app.control.inspect(destination=[self.name], timeout=2.0, limit=1)

    def started(self, task_name: str) -> int:
        """How many ``task_name`` messages the worker has taken since it started."""
        stats = (self._inspect().stats() or {}).get(self.name)
        assert stats is not None, f"worker {self.name} did not answer stats"
        return stats["total"].get(task_name, 0)

    def is_idle(self) -> bool:
        inspect = self._inspect()
        active = (inspect.active() or {}).get(self.name)
        reserved = (inspect.reserved() or {}).get(self.name)
        return active == [] and reserved == []

    def wait_for(self, task_name: str, count: int, *, timeout: float = 30.0) -> None:
        """Wait until the worker has taken ``count`` messages of ``task_name`` and finished them."""
        wait_until(
            lambda: self.started(task_name) >= count and self.is_idle(),
            timeout=timeout,
            what=lambda: (
                f"{self.name} took {self.started(task_name)} of {count} {task_name} messages "
                f"(idle: {self.is_idle()})"
            ),
        )

    def stop_consuming(self) -> None:
        queue = celery_app.conf.task_default_queue
        replies = celery_app.control.cancel_consumer(queue, destination=[self.name], reply=True)
        assert replies, f"{self.name} did not confirm it stopped consuming {queue}"

    def resume_consuming(self) -> None:
        queue = celery_app.conf.task_default_queue
        replies = celery_app.control.add_consumer(queue, destination=[self.name], reply=True)
        assert replies, f"{self.name} did not confirm it consumes {queue} again"

    def answers_ping(self) -> bool:
        """Whether the worker answers; ``False`` while this process's broker connection fails
        (e.g. the first use of a pooled connection after a broker restart, which then redials)."""
        with celery_app.connection_for_read() as conn:
            broker_errors = (*conn.connection_errors, *conn.channel_errors, OperationalError)
        try:
            return bool(celery_app.control.ping(destination=[self.name], timeout=0.5))
        except broker_errors:
            return False

    def active(self, task_name: str) -> list[dict]:
        """The ``task_name`` messages running now, each with ``id``, ``args`` and ``worker_pid``."""
        active = (self._inspect().active() or {}).get(self.name) or []
        return [task for task in active if task["name"] == task_name]

    def pool_pids(self) -> set[int]:
        """The live pool processes (children) of the worker's main process."""
        pids = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
                state, ppid = stat.read_text().rpartition(")")[2].split()[:2]
            except (OSError, ValueError):
                continue  # the process ended while we looked
            if int(ppid) == self.process.pid and state not in ("Z", "X"):
                pids.add(int(stat.parent.name))
        return pids


def _stop(process: subprocess.Popen, *, gently: bool = True) -> None:
    if process.poll() is not None:
        return
    if gently:
        process.send_signal(signal.SIGTERM)  # warm shutdown: finish what is running, then exit
        try:
            process.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass
    # The worker and its pool children form their own process group (start_new_session).
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)


def worker_start(
    *,
    broker_url: str,
    media_root: Path,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> Worker:
    """``celery worker`` in a subprocess on the test database, ``broker_url`` and media folder,
    answering pings. The caller stops it (``_stop``). ``extra_args`` such as ``--beat`` and
    ``extra_env`` (settings for the worker) are added."""
    name = f"pytest-{uuid.uuid4().hex[:8]}@localhost"
    env = (
        {name: value for name, value in os.environ.items() if name not in BROKER_ENV}
        | {
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "MEDIA_ROOT": str(media_root),
            "PYTHONUNBUFFERED": "1",
        }
        | (extra_env or {})
    )
    argv = [
        str(CELERY_BIN),
        "-A",
        "reviewapp",
        "worker",
        "--concurrency=2",
        "--loglevel=INFO",
        "--hostname",
        name,
        "--without-gossip",
        "--without-mingle",
        *(extra_args or []),
    ]
    worker = Worker(
        name=name, process=_spawn(argv, env, log_path), log_path=log_path, argv=argv, env=env
    )
    try:
        _wait_for_ping(worker)
    except BaseException:
        _stop(worker.process, gently=False)
        raise
    return worker


@pytest.fixture(scope="module")
def celery_worker(request, django_db_setup, media_root, tmp_path_factory):
    """``celery worker`` in a subprocess, on the test database, broker and media folder."""
    # Messages left by earlier runs or by tests that enqueue without a worker would otherwise
    # run against this database, or make the worker look busy.
    celery_app.control.purge()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    request.config.stash[WORKER_LOG] = log_path
    worker = worker_start(
        broker_url=settings.CELERY_BROKER_URL, media_root=media_root, log_path=log_path
    )
    try:
        yield worker
    finally:
        _stop(worker.process)


@pytest.fixture
def private_redis(tmp_path):
    """A ``redis-server`` of this test's own on a free port, which the test may stop and restart;
    killed at the end whatever happened. Its folder and log stay in ``tmp_path``."""
    with RedisServer(directory=tmp_path / "redis") as server:
        yield server


@pytest.fixture
def private_worker(private_redis, request, django_db_setup, media_root, tmp_path):
    """A worker of this test's own on ``private_redis``, with this process's Celery app (the
    app's after-commit enqueues, pings, inspects) on the same broker for the test only."""
    broker_url = private_redis.url()
    with celery_app_on_broker(broker_url):
        worker = worker_start(
            broker_url=broker_url, media_root=media_root, log_path=tmp_path / "worker.log"
        )
        request.node.stash[WORKER_LOG] = worker.log_path
        request.node.stash[LOG_OFFSET] = 0
        try:
            yield worker
            if private_redis.answers() and worker.process.poll() is None:
                wait_until(worker.is_idle, timeout=30.0, what=lambda: "the worker never went idle")
        finally:
            # A warm shutdown could wait for ever on a broker the test left stopped.
            _stop(worker.process, gently=private_redis.answers())


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_ping(worker: Worker) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not worker.answers_ping():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"the celery worker never answered a ping (exit code {worker.process.poll()}):\n"
                + worker.log_tail()
            )


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    return wait_until


@pytest.fixture
def worker(celery_worker, request):
    """The module's worker, idle at the end of the test; its log is shown if the test fails."""
    request.node.stash[LOG_OFFSET] = celery_worker.log_path.stat().st_size
    yield celery_worker
    wait_until(celery_worker.is_idle, timeout=30.0, what=lambda: "the worker never went idle")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    # A test's own worker (``private_worker``) first, else the module's.
    log_path = item.stash.get(WORKER_LOG, None) or item.config.stash.get(WORKER_LOG, None)
    if report.failed and LOG_OFFSET in item.stash and log_path is not None:
        with log_path.open("rb") as handle:
            handle.seek(item.stash[LOG_OFFSET])
            lines = handle.read().decode(errors="replace").splitlines()
        report.sections.append(("celery worker log", "\n".join(lines[-LOG_TAIL_LINES:])))
    return report
