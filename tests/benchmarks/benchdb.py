"""What every benchmark script here needs: a PostgreSQL database of its own on the server
``DATABASE_URL`` points at (created fresh, dropped at the end), and Django set up on it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]


def database_urls(name: str) -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server DATABASE_URL points at."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reviewapp")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit(f"The benchmark needs PostgreSQL; DATABASE_URL is {parts.scheme}://...")
    return (
        urlunsplit(parts._replace(path="/postgres")),
        urlunsplit(parts._replace(path=f"/{name}")),
    )


def recreate_database(maintenance_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(bench_url: str, var_dir: Path, *, broker: str, migrate: bool = True) -> None:
    """Point Django at the benchmark database and ``broker`` (unless CELERY_BROKER_URL is set)."""
    os.environ["DATABASE_URL"] = bench_url
    os.environ["REVIEWAPP_VAR_DIR"] = str(var_dir)
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    os.environ.setdefault("CELERY_BROKER_URL", broker)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "reviewapp.settings"
    if not os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        sys.exit("The benchmark needs Redis: set CELERY_BROKER_URL=redis://...")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)


class Worker:
    """A real `celery worker` subprocess with two pool processes on the benchmark's broker."""

    def __init__(self, log_path: Path):
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "reviewapp", "worker", "--concurrency=2",
                "--loglevel=WARNING", "--without-gossip", "--without-mingle",
                f"--hostname=bench-{os.getpid()}@%h",
            ],
            cwd=REPO,
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        from reviewapp.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"The worker exited ({self.process.returncode}); see {self.log.name}")
            # A connection of its own, closed after: one left in the pool still waiting on the
            # reply queue blocks a process forked later (kombu closes it there after the fork).
            with app.connection_for_write() as connection:
                if app.control.ping(timeout=0.5, connection=connection):
                    return
        sys.exit(f"The celery worker did not answer a ping in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
