"""Keep the quick start's background processes running: start each, start it again when it exits.

Each process leads its own process group, so Ctrl+C in the terminal reaches only the quick start,
which then stops every group as a whole, and a process that died leaves no pool process behind.
"""

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Between an exit and the restart; doubled for each exit that comes soon after a start, so a
# process that cannot start does not spin, and back to the first value once one runs a while.
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_AFTER_SECONDS = 60.0
WATCH_INTERVAL_SECONDS = 0.25


class StopWhenAsked:
    """For a loop run as a command: SIGTERM (a container stopping) or Ctrl+C asks it to finish
    the round it is in and stop, instead of dying half-way."""

    def __init__(self) -> None:
        self.asked = False
        signal.signal(signal.SIGTERM, self._ask)
        signal.signal(signal.SIGINT, self._ask)

    def _ask(self, signum, frame) -> None:
        self.asked = True


def exit_description(exit_code: int) -> str:
    """How a process ended: "code 1", or "code -9 (SIGKILL)" when a signal ended it."""
    if exit_code < 0:
        with contextlib.suppress(ValueError):
            return f"code {exit_code} ({signal.Signals(-exit_code).name})"
    return f"code {exit_code}"


@dataclass
class Program:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs programs as child processes and restarts any that exits, until ``stop()``.

    ``say`` prints a line for the person at the console; ``on_restart(name, exit_code)`` is
    called once for each exit, before the restart (the quick start records it where the app
    shows it). Watching happens in a thread of its own, so the caller's thread stays free (the
    quick start serves the site in it).
    """

    def __init__(
        self,
        programs: dict[str, list[str]],
        *,
        say: Callable[[str], None],
        env: dict[str, str] | None = None,
        on_restart: Callable[[str, int], None] | None = None,
    ):
        self.programs = [Program(name, argv) for name, argv in programs.items()]
        self._say = say
        self._env = env
        self._on_restart = on_restart
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        for program in self.programs:
            self._start(program)
        self._watcher.start()

    def stop(self, *, timeout: float) -> None:
        """Stop watching, then stop every program: SIGTERM, and SIGKILL to its group after
        ``timeout`` seconds."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        # Exited ones waiting for their restart had their group ended when the exit was seen.
        running = [p.process for p in self.programs if p.process and p.restart_at is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)  # a worker's warm shutdown
        deadline = time.monotonic() + timeout
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in running:
            # Also what a worker's main process left behind (its pool processes), and a main
            # process that ignored SIGTERM.
            _kill_group(process.pid)
            process.wait()

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_INTERVAL_SECONDS):
            for program in self.programs:
                try:
                    self._check(program)
                except Exception:
                    # The watcher must outlive anything (a closed console, say): it is the
                    # only thing that brings the programs back.
                    logger.exception("Supervising the %s process failed", program.name)

    def _check(self, program: Program) -> None:
        now = time.monotonic()
        if program.restart_at is not None:
            if now >= program.restart_at:
                self._start(program)
            return
        assert program.process is not None
        exit_code = program.process.poll()
        if exit_code is None:
            return
        _kill_group(program.process.pid)
        if now - program.started_at >= STABLE_AFTER_SECONDS or not program.backoff:
            program.backoff = FIRST_BACKOFF_SECONDS
        else:
            program.backoff = min(program.backoff * 2, MAX_BACKOFF_SECONDS)
        program.restart_at = now + program.backoff
        self._say(
            f"The {program.name} process (pid {program.process.pid}) exited with "
            f"{exit_description(exit_code)}; starting it again in {program.backoff:.0f} s."
        )
        logger.warning(
            "%s exited with %s; starting it again", program.name, exit_description(exit_code)
        )
        if self._on_restart is not None:
            self._on_restart(program.name, exit_code)

    def _start(self, program: Program) -> None:
        program.restart_at = None
        program.started_at = time.monotonic()
        try:
            program.process = subprocess.Popen(  # noqa: S603 - argv from our own code
                program.argv,
                env=self._env,
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        except OSError as exc:
            program.backoff = min(
                max(program.backoff * 2, FIRST_BACKOFF_SECONDS), MAX_BACKOFF_SECONDS
            )
            program.restart_at = program.started_at + program.backoff
            self._say(
                f"Could not start the {program.name} process ({exc}); "
                f"trying again in {program.backoff:.0f} s."
            )
            return
        self._say(f"Started the {program.name} process (pid {program.process.pid}).")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
