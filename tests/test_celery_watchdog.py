"""A worker whose consumer died must exit (ending its pool), so a supervisor restarts it."""

import subprocess
import sys
import textwrap
import time
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import logging, os, subprocess, sys, time
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import reviewapp.celery as worker_setup

    worker_setup.UNRECOVERABLE_GRACE_SECONDS = 0.2
    worker_setup._watch_for_unrecoverable_errors()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print(child.pid, flush=True)
    logging.getLogger("celery.worker").critical("Unrecoverable error: %r", AttributeError("x"))
    time.sleep(30)  # the hung clean stop this handler exists for
    """
)


def test_an_unrecoverable_error_ends_the_worker_and_its_pool():
    process = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert process.returncode == 1, process.stderr
    child_pid = int(process.stdout.split()[0])
    # SIGKILL is delivered asynchronously: give the pool child a moment to be gone.
    deadline = time.monotonic() + 5
    while _running(child_pid):
        assert time.monotonic() < deadline, f"pool process {child_pid} survived the worker"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_other_critical_logs_leave_the_worker_alone():
    script = SCRIPT.replace("Unrecoverable error: %r", "Something else: %r").replace(
        "time.sleep(30)", "time.sleep(0.5); child.kill(); sys.exit(0)"
    )
    process = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert process.returncode == 0, process.stderr
