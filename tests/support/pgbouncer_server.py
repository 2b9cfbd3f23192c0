"""A private PgBouncer in transaction mode in front of the test database, and a way to point this
process's Django connections at it the way ``DATABASE_POOLER=transaction`` configures them.

PgBouncer (Debian's ``pgbouncer``, installed by .ci/prepare; its system service is never
started) runs on a free port with its own ini and userlist in a temp folder and offers two
databases, both the test database on PostgreSQL at 127.0.0.1:5432:

* ``<test db>``: transaction pooling, what the app's default connection uses;
* ``<test db>_session``: session pooling, for ``DATABASE_SESSION_URL``.

It runs ``DISCARD ALL`` after every transaction (``server_reset_query_always``), as PgBouncer's
documentation suggests for finding session features used through transaction pooling: a
prepared statement, held cursor, session ``SET`` or session lock that would only *sometimes*
be lost on another server connection in production is lost every time here.
"""

import contextlib
import copy
import csv
import importlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connections
from django.test import override_settings

from reviewapp.core.pooling import SESSION_ALIAS
from tests.support.redis_server import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class PgBouncer:
    """PgBouncer on 127.0.0.1 and a free port in front of ``database`` on ``upstream``."""

    def __init__(self, *, database: str, user: str, upstream_port: int = 5432) -> None:
        self.database, self.user = database, user
        self.session_database = f"{database}_session"
        self.directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.log_path = self.directory / "pgbouncer.log"
        self.process: subprocess.Popen | None = None
        # PgBouncer refuses to run as root: root runs it as the postgres user.
        self.run_as = "postgres" if os.geteuid() == 0 else None
        if self.run_as:
            shutil.chown(self.directory, self.run_as, self.run_as)
        try:
            for attempt in range(3):  # someone may take the free port before PgBouncer binds it
                self.port = free_port()
                self._write_config(upstream_port)
                try:
                    self._start()
                    return
                except RuntimeError:
                    if attempt == 2:
                        raise
        except BaseException:
            self.close()
            raise

    def _write_config(self, upstream_port: int) -> None:
        upstream = f"host=127.0.0.1 port={upstream_port} dbname={self.database}"
        (self.directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{self.database} = {upstream}\n"
            f"{self.session_database} = {upstream} pool_mode=session\n"
            "\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.directory / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "server_reset_query = DISCARD ALL\nserver_reset_query_always = 1\n"
            "default_pool_size = 20\nmax_client_conn = 200\n"
            f"admin_users = {self.user}\n"
            f"logfile = {self.log_path}\n"
        )

    def _start(self) -> None:
        user = {"user": self.run_as, "group": self.run_as} if self.run_as else {}
        self.process = subprocess.Popen(
            [PGBOUNCER, str(self.directory / "pgbouncer.ini")],
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **user,  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError(f"PgBouncer did not start:\n{self.log_tail()}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.url(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def url(self, *, session: bool = False) -> str:
        name = self.session_database if session else self.database
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{name}"

    def transactions(self) -> int:
        """How many transactions PgBouncer has passed to the transaction-pooled database."""
        rows = self._admin("SHOW STATS")
        return sum(int(row["total_xact_count"]) for row in rows if row["database"] == self.database)

    def logins(self, database: str) -> int:
        """How many client connections to ``database`` PgBouncer has logged in so far."""
        return self.log_path.read_text(errors="replace").count(f"login attempt: db={database} ")

    def _admin(self, command: str) -> list[dict[str, str]]:
        # The admin console speaks the simple query protocol only: psql does.
        result = subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user,
             "-d", "pgbouncer", "--csv", "-c", command],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return list(csv.DictReader(result.stdout.splitlines()))

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no log)"

    def _stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # PgBouncer closes its server connections on the way out
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "PgBouncer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pooled_settings(bouncer: PgBouncer) -> dict:
    """What reviewapp.settings makes of ``DATABASE_POOLER=transaction`` with this PgBouncer:
    the project's own settings code, read again under those variables."""
    import reviewapp.settings as project_settings

    pooled_env = {
        "DATABASE_URL": bouncer.url(),
        "DATABASE_POOLER": "transaction",
        "DATABASE_SESSION_URL": bouncer.url(session=True),
    }
    saved = {name: os.environ.get(name) for name in [*pooled_env, "DATABASE_PREPARED_STATEMENTS"]}
    try:
        os.environ.pop("DATABASE_PREPARED_STATEMENTS", None)
        os.environ.update(pooled_env)
        pooled = importlib.reload(project_settings)
        return {
            "DATABASES": copy.deepcopy(pooled.DATABASES),
            "REVIEWAPP_PREPARED_STATEMENTS": pooled.REVIEWAPP_PREPARED_STATEMENTS,
        }
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        importlib.reload(project_settings)


@contextlib.contextmanager
def through_pgbouncer(bouncer: PgBouncer) -> Iterator[dict]:
    """This process's ``default`` connection goes through ``bouncer`` in transaction mode, with
    the options ``DATABASE_POOLER=transaction`` sets, and the ``session`` alias exists, until
    the block ends. The test database itself was created directly on PostgreSQL."""
    pooled = pooled_settings(bouncer)
    live = connections["default"].settings_dict
    # Django's connections read this very dict (created by pytest-django's setup): changed in
    # place, the next connection is made to PgBouncer.
    assert connections.settings is settings.DATABASES
    assert live is settings.DATABASES["default"]
    saved = copy.deepcopy(live)
    connections.close_all()
    wanted = pooled["DATABASES"]["default"]
    for key in ("HOST", "PORT", "OPTIONS", "DISABLE_SERVER_SIDE_CURSORS"):
        live[key] = wanted[key]
    # The session alias as settings make it, completed like Django completes DATABASES.
    session = {**copy.deepcopy(live), **pooled["DATABASES"][SESSION_ALIAS]}
    session.pop("DISABLE_SERVER_SIDE_CURSORS", None)
    session["OPTIONS"] = {}
    session["TEST"] = {**live["TEST"], **session["TEST"]}
    outer_session = settings.DATABASES.get(SESSION_ALIAS)  # when PgBouncers nest
    settings.DATABASES[SESSION_ALIAS] = session
    prepared = override_settings(
        REVIEWAPP_PREPARED_STATEMENTS=pooled["REVIEWAPP_PREPARED_STATEMENTS"]
    )
    prepared.enable()
    try:
        yield pooled
    finally:
        prepared.disable()
        connections.close_all()
        del connections[SESSION_ALIAS]
        if outer_session is None:
            del settings.DATABASES[SESSION_ALIAS]
        else:
            settings.DATABASES[SESSION_ALIAS] = outer_session
        live.clear()
        live.update(saved)
