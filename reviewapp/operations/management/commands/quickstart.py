"""One command for the embedded quick start: migrate, load the demo, run a worker and the site."""

import contextlib
import os
import signal
import socket
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# How long the worker gets to finish its current tasks before it is killed. Its tasks are
# acks_late and idempotent, so a killed one runs again on the next start.
WORKER_STOP_SECONDS = 10


def _stop_on_signal(signum, frame):
    # SIGTERM (kill) and SIGHUP (terminal closed) take the same way out as Ctrl+C, so the
    # worker is stopped in the finally block below instead of being left behind.
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


def _stop_worker(worker: subprocess.Popen) -> None:
    """Stop the worker and everything it started (pool processes, embedded beat).

    The worker leads its own process group, so one signal reaches all of them. Its main process
    sometimes ignores SIGTERM on the filesystem transport; the group is then killed outright.
    """
    if worker.poll() is not None:
        return
    try:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the main process stops its pool
        worker.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)  # also reaps pool processes the main left behind
    worker.wait()


class Command(BaseCommand):
    help = "Migrate, load the demo, start a Celery worker with beat, and serve the site."

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
        # The worker starts first so it consumes the demo items as they are submitted. It gets
        # its own process group: Ctrl+C reaches only this process, which then stops the worker
        # group as a whole, so no pool process outlives the quick start.
        worker = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "reviewapp",
                "worker",
                "--beat",
                "--loglevel=WARNING",
                "--concurrency=2",
                f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}",
            ],
            env=os.environ.copy(),
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        try:
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
                self.stderr.write(f"Stopping the worker (up to {WORKER_STOP_SECONDS} s)...")
            _stop_worker(worker)
