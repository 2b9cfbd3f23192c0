"""A private ``redis-server`` for fault tests, and a way to point this process's Celery app at it.

Fault tests stop and restart their broker. The machine's Redis (port 6379) belongs to whoever
runs the suite, often with other work in it, so those tests start their own server on a free
port and restart that one. Like the machine's, it keeps nothing on disk: a restart loses every
queued message.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# Nothing here loads Django's settings at import (reviewapp.celery would): the xdist broker
# plugin (tests/support/xdist_broker.py) starts a server before the settings are read.

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
NO_RETRY = Retry(NoBackoff(), retries=0)
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port nobody uses now, below the kernel's range for outgoing connections: while the
    server is down for a restart, no client socket can be handed its port."""
    try:
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    for _ in range(100):
        port = random.randrange(20000, first_ephemeral)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 20000 and {first_ephemeral}")


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, with its own folder and log.

    ``stop()``, ``start()`` and ``restart()`` keep the port, so clients that redial find it
    again. ``close()`` (or leaving the ``with`` block) ends the process whatever state the test
    left it in, and removes the folder.
    """

    def __init__(self, *, port: int | None = None, directory: Path | None = None) -> None:
        self._own_directory = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log_path = self.directory / "redis.log"
        self.process: subprocess.Popen | None = None
        # Someone may take a free port before the server binds it: then another one.
        attempts = 1 if port else 3
        try:
            for attempt in range(attempts):
                self.port = port or free_port()
                try:
                    self.start()
                    return
                except RuntimeError:
                    if attempt == attempts - 1:
                        raise
        except BaseException:
            self.close()
            raise

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def answers(self) -> bool:
        """Whether this server (not some other process on its port) answers."""
        if not self.running():
            return False
        # No retries: the client's default backs off for seconds before it says "down".
        client = redis.Redis(
            port=self.port, socket_timeout=1.0, socket_connect_timeout=1.0, retry=NO_RETRY
        )
        try:
            return client.info("server")["process_id"] == self.pid
        except redis.RedisError:
            return False
        finally:
            client.close()

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db, socket_timeout=5.0)

    def start(self) -> None:
        assert not self.running(), "start() is for a stopped server"
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_path),
            "--daemonize",
            "no",
        ]
        try:
            # Its own session: a Ctrl-C meant for pytest must not take the broker down first.
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
            )
        except FileNotFoundError as error:
            raise RuntimeError(
                "redis-server is not installed: fault tests start their own (see .ci/prepare)"
            ) from error
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if not self.running() or time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(
                    f"redis-server on port {self.port} never answered PING:\n{self.log_tail()}"
                )
            # Waits for the server to come up, not for time to pass.
            time.sleep(0.02)

    def stop(self) -> None:
        """Shut the server down as a crash or an operator would; queued messages are gone."""
        assert self.running(), "stop() is for a running server"
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)  # with --save "" nothing is written
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()

    def restart(self, *, downtime: float = 0.0) -> None:
        """Stop, stay down for ``downtime`` seconds, and start again on the same port."""
        self.stop()
        if downtime > 0:
            # The outage itself: clients must find the port closed for this long.
            time.sleep(downtime)
        self.start()

    def log_tail(self, lines: int = 50) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        self._kill()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def __enter__(self) -> "RedisServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# Celery reads these before its configuration: the test's broker must be in them too.
BROKER_ENV = ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL")


def _celery_app_redial(url: str, environ: dict[str, str]) -> None:
    """Point this process's Celery app at ``url`` and drop every broker connection it holds.

    The app caches pooled connections in three places (its connection pool, its producer pool,
    and the control mailbox's producer pool, which pings and inspects use) and kombu keeps them
    in process-wide groups keyed by broker; all of them still lead to the old broker until
    dropped. The next enqueue, control call or ``connection_for_*()`` dials ``url``.
    """
    from reviewapp.celery import app as celery_app

    kombu.pools.reset()
    for name in BROKER_ENV:
        os.environ.pop(name, None)
    os.environ.update(environ)
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    del celery_app.control.mailbox.producer_pool


@contextmanager
def celery_app_on_broker(url: str) -> Iterator[None]:
    """Within the block this process enqueues (the app's after-commit sends included), pings
    and inspects through ``url``; afterwards everything goes to the broker it had before."""
    from django.test import override_settings

    from reviewapp.celery import app as celery_app

    previous_url = celery_app.conf.broker_url
    previous_environ = {name: os.environ[name] for name in BROKER_ENV if name in os.environ}
    with override_settings(CELERY_BROKER_URL=url):
        _celery_app_redial(url, {"CELERY_BROKER_URL": url})
        try:
            for connection in (celery_app.connection_for_write(), celery_app.connection_for_read()):
                with connection:
                    assert connection.as_uri(include_password=True) == url, connection.as_uri()
            yield
        finally:
            _celery_app_redial(previous_url, previous_environ)
