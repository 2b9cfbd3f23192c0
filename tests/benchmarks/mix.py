"""What the review benchmarks decide, and the figures they print beside every result.

Reviewers do not only accept: the decisions that matter (and cost the most) are corrections
with reasons, which record a Correction, and rejections. Every review benchmark decides with
the same mix, so in-process and HTTP figures compare: of every ten reviews, three are
corrections with reason codes, one is a rejection with a reason, six are accepts.
"""

import os
import time
from pathlib import Path

from workflows.demo.tickets import LABELS

CORRECT_SLOTS = (1, 4, 7)
REJECT_SLOTS = (9,)
MIX = "60% accept, 30% correct (with reasons), 10% reject (with a reason)"
CORRECT_REASONS = (["wrong-category"], ["wrong-category", "ambiguous-text"], ["mixed-topics"])
REJECT_REASONS = (["spam"], ["not-enough-information"])


def outcome_for(index: int) -> str:
    """The outcome of a reviewer's ``index``-th review."""
    slot = index % 10
    if slot in CORRECT_SLOTS:
        return "correct"
    if slot in REJECT_SLOTS:
        return "reject"
    return "accept"


def decision_for(index: int, model_output: dict | None = None) -> dict:
    """The decision fields (``outcome``, ``output``, ``reason_codes``) of a reviewer's
    ``index``-th review; a correction needs the model's output to change it."""
    outcome = outcome_for(index)
    if outcome == "accept":
        return {"outcome": "accept"}
    if outcome == "reject":
        return {"outcome": "reject", "reason_codes": REJECT_REASONS[index % len(REJECT_REASONS)]}
    label = (model_output or {}).get("label")
    others = [candidate for candidate in LABELS if candidate != label]
    return {
        "outcome": "correct",
        "output": {"label": others[index % len(others)]},
        "reason_codes": CORRECT_REASONS[index % len(CORRECT_REASONS)],
    }


def load() -> str:
    """The machine's load average (1, 5, 15 min): the machine is shared, so every figure says
    how busy it was."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (a prefork worker's pool, gunicorn's workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (exited children are not counted)."""
    total = 0.0
    for each in tree_pids(pid):
        try:
            total += process_cpu_seconds(each)
        except OSError:
            continue
    return total


def wait_worker_idle(*, timeout: float = 300) -> float:
    """Seconds until the worker has run every message sent so far (the resume tasks of the
    decisions): nothing waiting in the broker's queue and nothing taken but unacknowledged
    (tasks are acknowledged late, so a running one is in kombu's ``unacked`` hash), twice in
    a row. Asked of Redis directly: Celery's pooled broker connections must not be left open
    here, a benchmark forks reviewer processes after this and the fork would inherit them."""
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    began = time.monotonic()
    quiet = 0
    try:
        while quiet < 2 and time.monotonic() - began < timeout:
            busy = broker.llen("celery") or broker.hlen("unacked")
            quiet = 0 if busy else quiet + 1
            time.sleep(0.2)
    finally:
        broker.close()
    return time.monotonic() - began
