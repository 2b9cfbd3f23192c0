"""The embedded quick start in one command: migrate, load the demo, run worker, beat and site.

The worker and beat are supervised: either one that exits is started again (see
``reviewapp.core.supervisor``), so a crash costs seconds of background work, not the rest of the
session.
"""

import contextlib
import signal
import socket
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from reviewapp.core.health.lease import lease_forfeit
from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.services import heartbeat_restart_record
from reviewapp.core.supervisor import Supervisor, exit_description

# How long the worker gets to finish its current tasks before it is killed. Its tasks are
# acks_late and idempotent, so a killed one runs again on the next start.
WORKER_STOP_SECONDS = 10


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "reviewapp", *args, "--loglevel=WARNING"]


def _process_names() -> dict[str, tuple[str, str]]:
    """Each supervised program's heartbeat: the worker gets a fixed node name so a restarted one
    takes over the row of the one that died."""
    host = socket.gethostname()
    return {
        "worker": (ProcessKind.WORKER, f"worker@{host}"),
        "beat": (ProcessKind.BEAT, f"beat@{host}"),
    }


def _record_restart(program: str, exit_code: int) -> None:
    """Shown on the Pipeline page beside the process: how often it came back, and why."""
    kind, name = _process_names()[program]
    try:
        heartbeat_restart_record(
            name=name,
            kind=kind,
            hostname=socket.gethostname(),
            exit_status=exit_description(exit_code),
        )
        if kind == ProcessKind.BEAT:
            lease_forfeit(holder=name)
    finally:
        connection.close()  # the supervisor's thread: no connection left open between exits


def _stop_on_signal(signum, frame):
    # SIGTERM (kill) and SIGHUP (terminal closed) take the same way out as Ctrl+C, so the
    # worker and beat are stopped in the finally block below instead of being left behind.
    raise KeyboardInterrupt


def _port_free(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = "Migrate, load the demo, start a supervised Celery worker and beat, serve the site."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--items", type=int, default=300)

    def handle(self, *args, addr: str, items: int, **options):
        # runserver ends the process with os._exit() when it cannot bind, which would skip the
        # clean-up below and orphan the worker: find out first.
        if not _port_free(addr):
            raise CommandError(f"{addr} is already in use; pass --addr HOST:PORT.")
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGHUP, _stop_on_signal)
        # The worker starts first so it consumes the demo items as they are submitted. Beat runs
        # as a process of its own, so a worker restart never takes the schedule down with it.
        supervisor = Supervisor(
            {
                "worker": _celery(
                    "worker", "--concurrency=2", f"--hostname={_process_names()['worker'][1]}"
                ),
                "beat": _celery("beat", f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}"),
            },
            say=self.stdout.write,
            on_restart=_record_restart,
        )
        try:
            supervisor.start()
            call_command("load_demo", items=items)
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nreviewapp is running: open http://{addr}/ and sign in with a user above.\n"
                    f"API schema: http://{addr}/api/schema/ . Stop with Ctrl+C.\n"
                )
            )
            call_command("runserver", addr, use_reloader=False)
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl+C must not cut the clean-up short; it takes WORKER_STOP_SECONDS at most.
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            # stderr, and errors ignored: after Ctrl+C a pipe this prints into may be gone.
            with contextlib.suppress(OSError):
                self.stderr.write(
                    f"Stopping the worker and beat (up to {WORKER_STOP_SECONDS} s)..."
                )
            supervisor.stop(timeout=WORKER_STOP_SECONDS)
