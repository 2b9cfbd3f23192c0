"""Decision-to-agent latency of approvals through the long poll (``make bench-approvals``).

On a database of its own (``reviewapp_bench_approvals``, dropped at the end), with gunicorn
(gthread workers) serving the API and a real two-process Celery worker settling decisions:
``--agents`` agents each ask for an approval and wait on ``GET /api/v1/approvals/<id>/wait``
through HTTP; a reviewer (this process, through the review services) decides one approval every
``1 / --rate`` seconds. Latency is from the moment the decision committed to the moment the
agent's long poll answered with it: the resume message, the worker's transaction, the Redis
announcement, the web worker waking up, its database re-read and the HTTP answer. Target: p95
< 1 s. Prints the load average before and after (the machine may be shared).
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchdb import REPO, database_urls, recreate_database, setup_django
from run import Worker


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200, help="approvals decided")
    parser.add_argument("--agents", type=int, default=20, help="agents waiting at once")
    parser.add_argument("--rate", type=float, default=10.0, help="decisions per second")
    parser.add_argument("--db-name", default="reviewapp_bench_approvals")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """The web tier: two gthread workers, so long polls wait in threads, not processes."""

    def __init__(self, log_path: Path, threads: int):
        self.port = free_port()
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "reviewapp.wsgi", "--workers=2",
                "--worker-class=gthread", f"--threads={threads}", f"--bind=127.0.0.1:{self.port}",
                "--timeout=120", "--log-level=warning",
            ],
            cwd=REPO,
            env=os.environ | {"ALLOWED_HOSTS": "127.0.0.1,localhost"},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            process_group=0,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"gunicorn did not start; see {self.log.name}")
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench(args, web: Gunicorn) -> dict:
    from django.db import connection
    from django.db.models import Max

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.operations.configuration import workflow_sync
    from reviewapp.operations.demo import demo_install
    from reviewapp.review.approvals.client import ApprovalClient
    from reviewapp.review.reviews.claims import review_task_claim
    from reviewapp.review.reviews.decisions import review_task_decide
    from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus
    from tests.support.tokens import token_for
    from workflows.definitions import workflow_file_load

    demo = demo_install(password="bench-password-not-secret")
    workflow_sync(
        source=workflow_file_load(REPO / "workflows/definitions/examples/agent-actions.yaml")
    )
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    agent_user, reviewer = users.get(username="api-client"), users.get(username="alice")
    membership_add(team=demo.team, user=agent_user, role=Role.INTEGRATOR)
    client = ApprovalClient(
        web.url, token=token_for(agent_user, name="bench-approvals"), timeout=30
    )
    queue = Queue.objects.get(slug="agent-actions")

    decided_at: dict[int, float] = {}
    answered: dict[int, tuple[float, str]] = {}
    lock = threading.Lock()
    errors: list[str] = []
    remaining = iter(range(args.decisions))

    def agent(number: int) -> None:
        while True:
            with lock:
                n = next(remaining, None)
            if n is None:
                return
            try:
                approval = client.request(
                    workflow="agent-actions",
                    tool="refund",
                    arguments={"order": f"B-{n}", "amount": n},
                    risk_level="low",
                    requested_by=f"agent-{number}",
                    idempotency_key=f"bench/{n}",
                )
                answer = client.wait(approval["id"], timeout=120)
                with lock:
                    answered[approval["id"]] = (time.monotonic(), answer["status"])
            except Exception as exc:  # counted and printed, the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    agents = [threading.Thread(target=agent, args=(i,), daemon=True) for i in range(args.agents)]
    for thread in agents:
        thread.start()
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    decided = 0
    give_up = time.monotonic() + args.decisions / args.rate * 3 + 120
    while decided < args.decisions and time.monotonic() < give_up:
        if not ReviewTask.objects.filter(queue=queue, status=TaskStatus.OPEN).exists():
            time.sleep(0.01)  # the agents have not asked yet
            continue
        time.sleep(max(0.0, next_at - time.monotonic()))
        task = review_task_claim(queue=queue, reviewer=reviewer)
        if task is None:
            continue
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="accept",
        )
        decided_at[task.item_id] = time.monotonic()
        decided += 1
        next_at += interval
    for thread in agents:
        thread.join(timeout=150)
    # The worker's share: from the decision's commit to the item's (both stamped by the server).
    from workflows.models import Item

    settled = [
        (item.completed_at - item.decided).total_seconds()
        for item in Item.objects.filter(
            pk__in=list(decided_at), completed_at__isnull=False
        ).annotate(decided=Max("tasks__decided_at"))
    ]
    connection.close()
    latencies = [answered[pk][0] - at for pk, at in decided_at.items() if pk in answered]
    return {
        "decided": decided,
        "answered": len(answered),
        "approved": sum(1 for _, status in answered.values() if status == "approved"),
        "errors": errors,
        "latencies": latencies,
        "settled": settled,
    }


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = database_urls(args.db_name)
    var_dir = Path(tempfile.mkdtemp(prefix="reviewapp-bench-approvals-"))
    recreate_database(maintenance_url, args.db_name)
    load_before = os.getloadavg()
    worker = web = None
    try:
        setup_django(bench_url, var_dir, broker="redis://127.0.0.1:6379/11")
        from reviewapp.celery import app

        app.control.purge()
        worker = Worker(var_dir / "worker.log")
        worker.wait_ready()
        web = Gunicorn(var_dir / "gunicorn.log", threads=args.agents + 4)
        print(
            f"{args.decisions} approvals, {args.agents} agents waiting on the long poll, "
            f"a reviewer deciding {args.rate:g}/s; gunicorn {web.url}, one worker (2 processes)",
            flush=True,
        )
        result = bench(args, web)
    finally:
        for process in (web, worker):
            if process is not None:
                process.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(maintenance_url, args.db_name, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    latencies = result["latencies"]
    load_after = os.getloadavg()
    print(f"decided {result['decided']}, answered {result['answered']} "
          f"(approved {result['approved']}), errors {len(result['errors'])}")  # fmt: skip
    for error in result["errors"][:5]:
        print("  ", error)
    if latencies:
        print(
            "decision -> agent latency: "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms (target p95 < 1000 ms)"
        )
    if result["settled"]:
        settled = result["settled"]
        print(
            "of which decision -> settled by the worker: "
            f"p50 {statistics.median(settled) * 1000:.0f} ms, "
            f"p95 {percentile(settled, 0.95) * 1000:.0f} ms"
        )
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print(
        "load average after:  {:.2f} {:.2f} {:.2f} ({} cores)".format(*load_after, os.cpu_count())
    )
    if not latencies or result["answered"] < result["decided"] or result["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
