"""Under pytest-xdist (``make test`` runs the suite in several processes), each test process gets
a ``redis-server`` of its own as its Celery broker.

Test processes sharing one Redis would take each other's messages: one process's Celery worker
would run another's task against the wrong test database, and ``purge()`` or the ``broker``
fixture would empty a queue another process is waiting on. Besides the queues, the settings
derive the approvals' pub/sub channel and the metrics store from ``CELERY_BROKER_URL``, and beat
leases and heartbeats live there too: a server per process keeps all of it apart with one
variable. Like the machine's Redis in CI it keeps nothing on disk.

Loaded with ``-p`` (pyproject's addopts) because the variable must be set before pytest-django
reads the settings; a run without xdist keeps the ``CELERY_BROKER_URL`` it was given.
"""

import atexit
import os

import pytest

from tests.support.redis_server import BROKER_ENV, RedisServer

SERVER = pytest.StashKey[RedisServer]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    server = RedisServer()
    atexit.register(server.close)  # also when the process ends without unconfigure
    early_config.stash[SERVER] = server
    for name in BROKER_ENV:
        os.environ.pop(name, None)
    os.environ["CELERY_BROKER_URL"] = server.url()


def pytest_report_header(config: pytest.Config) -> str | None:
    server = config.stash.get(SERVER, None)
    return f"broker: redis-server of this process, {server.url()}" if server else None


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(SERVER, None)
    if server is not None:
        server.close()
