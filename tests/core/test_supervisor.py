"""The supervisor behind the quick start, on real child processes."""

import logging
import re
import sys
import time
from pathlib import Path

import pytest

from reviewapp.core.supervisor import Supervisor

# Ignores SIGTERM and starts a child of its own, as a stuck Celery worker and its pool would.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
time.sleep(120)
"""


def wait_until(predicate, *, timeout: float, what: str):
    """Poll the children's progress; the short sleep waits for them to act."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _group(pgid: int) -> list[int]:
    """Live processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def test_a_program_that_keeps_exiting_is_restarted_after_growing_pauses(caplog):
    said: list[str] = []
    restarts: list[tuple[str, int]] = []
    supervisor = Supervisor(
        {"flaky": [sys.executable, "-c", "import sys; sys.exit(3)"]},
        say=said.append,
        on_restart=lambda name, code: restarts.append((name, code)),
    )

    with caplog.at_level(logging.WARNING, logger="reviewapp.core.supervisor"):
        supervisor.start()
        try:
            wait_until(
                lambda: sum("exited" in line for line in said) >= 3,
                timeout=20,
                what="three exits",
            )
        finally:
            supervisor.stop(timeout=5)

    exits = [line for line in said if "exited" in line][:3]
    assert all("exited with code 3;" in line for line in exits), exits
    assert [re.search(r"again in (\d+) s", line).group(1) for line in exits] == ["1", "2", "4"]
    assert sum(line.startswith("Started the flaky process") for line in said) >= 3
    hooked = [r.getMessage() for r in caplog.records if r.name == "reviewapp.core.supervisor"]
    assert hooked[:3] == ["flaky exited with code 3; starting it again"] * 3
    assert restarts[:3] == [("flaky", 3)] * 3


def test_stop_ends_a_program_that_ignores_sigterm_and_its_children():
    said: list[str] = []
    supervisor = Supervisor({"stubborn": [sys.executable, "-c", STUBBORN]}, say=said.append)
    supervisor.start()
    pid = supervisor.programs[0].process.pid
    try:
        wait_until(lambda: len(_group(pid)) == 2, timeout=10, what="the program and its child")
    finally:
        supervisor.stop(timeout=0.5)

    # SIGKILL reaches the orphaned child asynchronously.
    wait_until(lambda: _group(pid) == [], timeout=5, what="the whole group to be gone")
    assert not any("exited" in line for line in said), "a stop is not a crash to restart"
