"""The quick start supervises its worker and beat: either one that dies comes back and works.

Runs the real ``manage.py quickstart`` in a subprocess, as ``make run`` does (SQLite and the
filesystem broker in a temporary folder, the site on a free port), and reads its database file.
"""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from workflows.demo.tickets import generate_tickets

ROOT = Path(__file__).resolve().parents[2]
DEMO_ITEMS = 40
MORE_ITEMS = 20
ROUTED = ("completed", "awaiting_review")


class Console:
    """The quick start's output, collected line by line as it comes."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str) -> list[re.Match]:
        return [m for line in list(self.lines) if (m := re.search(pattern, line))]

    def finish(self) -> None:
        """Wait for the last lines of a process that has exited."""
        self._reader.join(timeout=10)

    def tail(self) -> str:
        return "\n".join(self.lines[-60:])


def wait_until(predicate: Callable[[], object], *, timeout: float, what: str, console: Console):
    """Poll the quick start's progress; the short sleep waits for its processes to work."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{console.tail()}")
        time.sleep(0.2)
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _started_here(pid: int, var_dir: Path) -> bool:
    """Whether pid is (still) a process of this quick start, not a later one with its number."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"REVIEWAPP_VAR_DIR={var_dir}".encode() in environ and _alive(pid)


@pytest.fixture
def quickstart(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL")
    } | {"REVIEWAPP_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "quickstart",
            f"--addr=127.0.0.1:{port}",
            f"--items={DEMO_ITEMS}",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    console = Console(process)
    yield process, console, var_dir, port
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # Whatever happened above, nothing it started may outlive it.
    for match in console.find(r"Started the \w+ process \(pid (\d+)\)"):
        pid = int(match.group(1))
        if _started_here(pid, var_dir):
            os.killpg(pid, signal.SIGKILL)
            pytest.fail(f"pid {pid} outlived the quick start")


def _routed(var_dir: Path) -> int:
    """The tickets submitted at start and after the restart (the demo's history and gold items
    are items too, routed before the site starts)."""
    with sqlite3.connect(f"file:{var_dir / 'reviewapp.sqlite3'}?mode=ro", uri=True) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM workflows_item WHERE status IN (?, ?) "
            "AND (idempotency_key LIKE 'demo-7-%' OR idempotency_key LIKE 'after-restart-%')",
            ROUTED,
        ).fetchone()
    return count


def _heartbeats(var_dir: Path) -> dict[str, tuple[int, str]]:
    """``{kind: (restarts, last exit)}`` as the quick start recorded them for the Pipeline page."""
    with sqlite3.connect(f"file:{var_dir / 'reviewapp.sqlite3'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT kind, restarts, last_exit FROM health_heartbeat").fetchall()
    return {kind: (restarts, last_exit) for kind, restarts, last_exit in rows}


def _pid(console: Console, name: str, *, not_: int | None = None) -> int | None:
    pids = [int(m.group(1)) for m in console.find(rf"Started the {name} process \(pid (\d+)\)")]
    return next((pid for pid in reversed(pids) if pid != not_), None)


def _kill_and_wait_for_restart(console: Console, name: str) -> int:
    old = _pid(console, name)
    assert old is not None and _alive(old), console.tail()
    os.kill(old, signal.SIGKILL)

    new = wait_until(
        lambda: _pid(console, name, not_=old),
        timeout=20,
        what=f"a new {name} process",
        console=console,
    )
    assert console.find(
        rf"The {name} process \(pid {old}\) exited with code -9 \(SIGKILL\); starting it again"
    ), console.tail()
    assert _alive(new)
    return new


def test_a_killed_worker_and_beat_come_back_and_items_still_get_routed(quickstart):
    process, console, var_dir, port = quickstart
    wait_until(
        lambda: console.find("reviewapp is running"),
        timeout=90,
        what="the site",
        console=console,
    )
    # The sign-in details come last, after the server's own start-up lines, and are the ones
    # kept for the next start.
    lines = list(console.lines)
    started = next(i for i, line in enumerate(lines) if "Quit the server with" in line)
    signs_in = next(i for i, line in enumerate(lines) if line.startswith("Sign in as"))
    assert started < signs_in, console.tail()
    kept = json.loads((var_dir / "demo-passwords.json").read_text())
    assert console.find(rf"^  alice +{re.escape(kept['alice'])} "), console.tail()
    wait_until(
        lambda: _routed(var_dir) == DEMO_ITEMS,
        timeout=60,
        what="the demo items to be routed",
        console=console,
    )

    _kill_and_wait_for_restart(console, "worker")
    _kill_and_wait_for_restart(console, "beat")
    # The app says so too: each process's heartbeat row counts the restart and how it ended.
    wait_until(
        lambda: _heartbeats(var_dir).get("beat", (0, ""))[0] == 1,
        timeout=30,
        what="the restarts recorded",
        console=console,
    )
    assert _heartbeats(var_dir) == {
        "worker": (1, "code -9 (SIGKILL)"),
        "beat": (1, "code -9 (SIGKILL)"),
    }

    # New work after the restart is done by the new worker.
    [token] = [m.group(1) for m in console.find(r"API token for api-client: (\S+)")]
    tickets = generate_tickets(MORE_ITEMS, seed=99)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/workflows/ticket-triage/items",
        data=json.dumps(
            {
                "items": [
                    {"input": t.as_input(), "idempotency_key": f"after-restart-{i}"}
                    for i, t in enumerate(tickets)
                ]
            }
        ).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own site
        assert response.status == 201
    wait_until(
        lambda: _routed(var_dir) == DEMO_ITEMS + MORE_ITEMS,
        timeout=60,
        what="the items sent after the restart to be routed",
        console=console,
    )
    # The atomic transport carried them (it claims files through this folder), and every file
    # in the queue was a message.
    assert (var_dir / "broker" / "queue" / ".claimed").is_dir()
    assert not (var_dir / "broker" / "rejected").exists()

    workers = [_pid(console, "worker"), _pid(console, "beat")]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, console.tail()
    assert console.find(r"Stopping the worker and beat")
    # Requests that succeed were not logged line by line over the sign-in details (read once
    # the process is gone, so a late line cannot slip past).
    console.finish()
    assert not console.find(r'"POST /api/v1/workflows/ticket-triage/items HTTP'), console.tail()
    assert not [pid for pid in workers if pid and _started_here(pid, var_dir)]
