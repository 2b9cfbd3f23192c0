"""Fault drills against a production-shaped stack of the benchmark's own: how fast everything
settles after a fault, and whether anything was lost, done twice or refused with a 5xx.

    make bench-recovery                          # or: python tests/benchmarks/recovery.py

It leaves the machine alone: it starts its OWN PostgreSQL 15 cluster (initdb in a temp folder,
owned by the ``postgres`` user when run as root, on a free port), its OWN ``redis-server``
(``tests.support.redis_server.RedisServer``, nothing kept on disk), and on them gunicorn (sync
workers, 3, as the Dockerfile and compose run it), one Celery worker (prefork, concurrency 2)
and one beat, with production settings (``DEBUG=false``; ``SECURE_SSL_REDIRECT=false`` only
because the requests come over plain HTTP on loopback). It acts as their supervisor: a process
that exits is started again at once, as compose's ``restart: unless-stopped`` would.

Drills, each measured until every item has settled (completed, or awaiting review with its
review task open; every decided item completed), with a ceiling of ``--ceiling`` seconds:

1. whole-worker ``kill -9`` (the main process and its pool: the process group) during a burst
   of ``--items`` items ingested over HTTP in batches (an Idempotency-Key per batch, the
   integrator's token); the supervisor starts the worker again. Timed from the kill.
2. a ``--outage`` seconds Redis outage during a burst: Redis is stopped (its queue is lost, as
   a Redis without persistence loses it), ingest goes on and must answer 201/200 for what it
   stored, never 5xx; Redis starts again. Timed from Redis answering again.
3. ``pg_ctl restart -m fast`` of the cluster while reviewers decide over HTTP: two through the
   API (``"next": true``), two through the review page's "Submit and next" (a logged-in session
   with CSRF; one as a plain form, one as htmx). A request that fails is sent again as a person
   would. Afterwards every answer is compared with the database: a decision that committed
   must not have been answered with a 5xx, a 503 must say nothing was saved, an answer must
   not say "nothing was saved" for a decision that is stored, and no task may have two
   decisions. Timed from the restart's end (the database answering again).

Per drill: time to settle, items stuck at the end, duplicates (an item/step with more than one
succeeded StepRun, an item with two ``item.completed`` events or two review tasks, a task with
two decisions or two ``task.decided`` events), 5xx answered for stored work, the load average
and the CPU seconds of each process. Also the first-request time of a fresh gunicorn (start ->
first 200 of ``/accounts/login/``), of the stack's gunicorn and of one of a single worker.
Settings are the defaults (printed), none shortened: the drills take as long as a deployment
would. Targets: drill 1 <= 60 s, drill 2 <= 30 s, 0 stuck, 0 duplicates, 0 such 5xx; the exit
status is 1 when a target is missed.

Not a test: pytest collects ``test_*.py`` only.
"""

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchdb import setup_django  # noqa: E402

from tests.support.postgres_server import PrivatePostgres  # noqa: E402

BIN = Path(sys.executable).parent
SECRET_KEY = "bench-recovery-only-0c7e2a9f4b6d8e1a3c5f7b9d2e4a6c8f0b1d3e5f7a9c"
PASSWORD = "bench-recovery-password"
TARGETS = {"kill": 60.0, "redis": 30.0}
# Settings that matter for recovery, printed with the figures.
SHOWN_SETTINGS = (
    "REVIEWAPP_HEARTBEAT_SECONDS",
    "REVIEWAPP_HEARTBEAT_STALE_SECONDS",
    "REVIEWAPP_RECONCILE_GRACE_SECONDS",
    "REVIEWAPP_RECONCILE_CEILING_SECONDS",
    "REVIEWAPP_PIPELINE_BATCH",
    "CELERY_BROKER_TRANSPORT_OPTIONS",
    "CELERY_WORKER_PREFETCH_MULTIPLIER",
    "CELERY_TASK_ACKS_LATE",
    "REVIEWAPP_RECONCILE_SECONDS",
    "DATABASE_CONN_MAX_AGE",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000, help="items per burst (drills 1, 2)")
    parser.add_argument("--batch", type=int, default=100, help="items per ingest request")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis is down")
    parser.add_argument(
        "--decide-seconds", type=float, default=30.0, help="how long reviewers decide (drill 3)"
    )
    parser.add_argument(
        "--pg-restarts", type=int, default=3, help="PostgreSQL restarts in drill 3 (at least 1)"
    )
    parser.add_argument(
        "--ceiling", type=float, default=120.0, help="seconds a drill waits for settling"
    )
    parser.add_argument(
        "--drills",
        nargs="+",
        choices=["kill", "redis", "postgres"],
        default=["kill", "redis", "postgres"],
        help="which drills to run, in this order",
    )
    parser.add_argument("--keep", action="store_true", help="leave the temp folder behind")
    args = parser.parse_args()
    if args.pg_restarts < 1 or args.items < args.batch or args.batch < 1:
        parser.error("--pg-restarts takes 1 or more; --items at least --batch, which is >= 1")
    return args


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the processes and their supervisor ----------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of() -> dict[int, list[int]]:
    """Every process's children, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def process_tree(root: int, children: dict[int, list[int]]) -> list[int]:
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass
class Service:
    """A supervised process (with its children) and the CPU it has used, dead ones included."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)
    started_at: float = 0.0
    cpu_by_pid: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, process_group=0,
            )  # fmt: skip
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill_group(self) -> None:
        """``kill -9`` of the main process and every process of its group (the pool)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def sample_cpu(self, children: dict[int, list[int]]) -> None:
        if self.process is None:
            return
        for pid in process_tree(self.pid, children):
            used = cpu_seconds(pid)
            if used:
                self.cpu_by_pid[pid] = max(self.cpu_by_pid.get(pid, 0.0), used)

    def cpu(self) -> float:
        return sum(self.cpu_by_pid.values())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill_group()
            self.process.wait(timeout=10)


class Supervisor(threading.Thread):
    """Starts a process again as soon as it exits (compose's restart policy), and samples the
    CPU of every process, PostgreSQL's and Redis's included."""

    def __init__(self, services: list[Service], extra: dict[str, Callable[[], int | None]]) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.services = services
        self.extra = extra  # name -> function giving the pid of an unsupervised server
        self.extra_cpu: dict[str, dict[int, float]] = {name: {} for name in extra}
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            children = children_of()
            with self.lock:
                for service in self.services:
                    service.sample_cpu(children)
                    if service.exited():
                        code = service.process.returncode if service.process else None
                        log(f"supervisor: {service.name} exited ({code}); starting it again")
                        service.restarts.append(time.monotonic())
                        service.start()
                for name, pid_of in self.extra.items():
                    pid = pid_of()
                    if pid:
                        seen = self.extra_cpu[name]
                        for child in process_tree(pid, children):
                            used = cpu_seconds(child)
                            if used:
                                seen[child] = max(seen.get(child, 0.0), used)

    def cpu(self) -> dict[str, float]:
        with self.lock:
            figures = {service.name: service.cpu() for service in self.services}
            figures |= {name: sum(seen.values()) for name, seen in self.extra_cpu.items()}
        figures["benchmark"] = time.process_time()
        return figures

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)


# --- the database, seen from here ------------------------------------------------------------


def with_db(read, *, attempts: int = 100):
    """Run a read, riding out a database restart (this process's connection breaks too)."""
    from django.db import InterfaceError, OperationalError, connection

    for _ in range(attempts):
        try:
            return read()
        except (OperationalError, InterfaceError):
            connection.close()
            time.sleep(0.2)  # waits for the database to come back
    return read()


def unsettled() -> dict[str, int]:
    """What keeps the stack from being settled, by kind; empty when everything has settled."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              count(*) FILTER (WHERE i.status IN ('received', 'running')),
              count(*) FILTER (WHERE i.status = 'awaiting_review' AND NOT EXISTS (
                  SELECT 1 FROM reviews_reviewtask t WHERE t.item_id = i.id)),
              count(*) FILTER (WHERE i.status = 'awaiting_review' AND EXISTS (
                  SELECT 1 FROM reviews_reviewtask t WHERE t.item_id = i.id
                  AND t.status = 'decided')),
              count(*) FILTER (WHERE i.status = 'dead_lettered')
            FROM workflows_item i
            """
        )
        in_flight, no_task, decided, dead = cursor.fetchone()
    counts = {
        "in pipeline": in_flight,
        "awaiting review without a task": no_task,
        "decided, not completed": decided,
        "dead-lettered": dead,
    }
    return {name: n for name, n in counts.items() if n}


def duplicates() -> dict[str, int]:
    from django.db import connection

    queries = {
        "item/step with >1 succeeded StepRun": """
            SELECT count(*) FROM (SELECT 1 FROM workflows_steprun WHERE status = 'succeeded'
            GROUP BY item_id, step HAVING count(*) > 1) d""",
        "item with >1 item.completed": """
            SELECT count(*) FROM (SELECT 1 FROM audit_auditevent
            WHERE action = 'item.completed' AND object_type = 'workflows.item'
            GROUP BY object_id HAVING count(*) > 1) d""",
        "item with >1 review task": """
            SELECT count(*) FROM (SELECT 1 FROM reviews_reviewtask
            GROUP BY item_id HAVING count(*) > 1) d""",
        "task with >1 decision": """
            SELECT count(*) FROM (SELECT 1 FROM reviews_decision
            GROUP BY task_id HAVING count(*) > 1) d""",
        "task with >1 task.decided": """
            SELECT count(*) FROM (SELECT 1 FROM audit_auditevent WHERE action = 'task.decided'
            GROUP BY object_type, object_id HAVING count(*) > 1) d""",
    }
    found = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            found[name] = cursor.fetchone()[0]
    return found


def wait_settled(since: float, ceiling: float) -> tuple[float | None, dict[str, int]]:
    """Seconds from ``since`` (monotonic) until everything settled, or None after the ceiling."""
    deadline = since + ceiling
    while True:
        left = with_db(unsettled)
        if not left:
            return time.monotonic() - since, {}
        if time.monotonic() > deadline:
            return None, left
        time.sleep(0.25)  # polls the stack's progress


# --- HTTP clients ------------------------------------------------------------------------------


@dataclass
class Answer:
    what: str  # "ingest", "decide-api", "decide-page", "decide-htmx", ...
    status: int  # 0: no answer (connection error, timeout)
    started: float  # wall clock, comparable with the database's timestamps
    ended: float
    body: str = ""
    task: int | None = None
    reviewer: str = ""
    key: str = ""
    attempt: int = 1


class Http:
    """A plain HTTP client with its own cookie jar: the site's cookies are Secure (DEBUG=false)
    and a standard jar would not send them back over plain HTTP on loopback."""

    def __init__(self, base: str, answers: list[Answer], lock: threading.Lock) -> None:
        import httpx

        self.client = httpx.Client(base_url=base, timeout=40.0, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.answers = answers
        self.lock = lock

    def request(self, method: str, path: str, *, what: str, record: bool = True, **kwargs):
        import httpx

        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.time()
        try:
            response = self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            answer = Answer(what, 0, started, time.time(), body=repr(error))
            if record:
                with self.lock:
                    self.answers.append(answer)
            return None, answer
        for header in response.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
        answer = Answer(what, response.status_code, started, time.time(), body=response.text)
        if record:
            with self.lock:
                self.answers.append(answer)
        return response, answer


# --- drills 1 and 2: bursts ----------------------------------------------------------------


def post_burst(
    http: Http, *, workflow: str, token: str, drill: str, items: int, batch: int,
    on_batch=None, seed: int = 1,
) -> None:  # fmt: skip
    """Post ``items`` tickets in batches; a batch that gets no 2xx is sent again (same key)."""
    from workflows.demo.tickets import generate_tickets

    tickets = [ticket.as_input() for ticket in generate_tickets(items, seed=seed)]
    for number, start in enumerate(range(0, items, batch)):
        key = f"{drill}-{number}"
        body = {"items": [{"input": ticket} for ticket in tickets[start : start + batch]]}
        for attempt in range(1, 30):
            _, answer = http.request(
                "POST", f"/api/v1/workflows/{workflow}/items", what="ingest", json=body,
                headers={"Authorization": f"Token {token}", "Idempotency-Key": key},
            )  # fmt: skip
            answer.key, answer.attempt = key, attempt
            if 200 <= answer.status < 300:
                break
            time.sleep(0.5)  # an integrator backs off before sending again
        if on_batch is not None:
            on_batch(number)


def ingest_findings(answers: list[Answer], drill: str) -> dict[str, int]:
    """5xx (and no answer) to ingest requests, and those whose items were stored anyway."""
    from workflows.models import Item

    mine = [a for a in answers if a.what == "ingest" and a.key.startswith(f"{drill}-")]
    failed = [a for a in mine if a.status >= 500 or a.status == 0]
    stored_keys = set(
        with_db(
            lambda: list(
                Item.objects.filter(idempotency_key__startswith=f"{drill}-").values_list(
                    "idempotency_key", flat=True
                )
            )
        )
    )
    stored_batches = {key.rsplit("/", 1)[0] for key in stored_keys}
    return {
        "requests": len(mine),
        "status": dict(Counter(a.status for a in mine)),
        "slowest answer s": round(max((a.ended - a.started for a in mine), default=0.0), 2),
        "5xx for stored items": sum(1 for a in failed if a.status and a.key in stored_batches),
        "no answer": sum(1 for a in failed if a.status == 0),
        "items stored": len(stored_keys),
    }


def worker_active(app) -> int:
    replies = app.control.inspect(timeout=0.5).active() or {}
    return sum(len(tasks) for tasks in replies.values())


def drill_kill(stack, args) -> dict:
    from reviewapp.celery import app

    log(f"drill 1: {args.items} items in batches of {args.batch}; kill -9 of the worker group")
    marks: dict[str, float] = {}
    at_kill: dict[str, int] = {}
    kill_after = max(1, (args.items // args.batch) // 3)

    def on_batch(number: int) -> None:
        if number + 1 != kill_after:
            return
        deadline = time.monotonic() + 10
        while (active := worker_active(app)) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # waits for the worker to be running a batch
        at_kill["tasks running"] = active
        with stack.supervisor.lock:
            stack.worker.kill_group()
            marks["kill"] = time.monotonic()
            stack.worker.process.wait()
        log(f"drill 1: killed the worker group ({active} task(s) running); supervisor restarts")

    before = stack.supervisor.cpu()
    post_burst(
        stack.http(), workflow=stack.workflow, token=stack.token, drill="d1",
        items=args.items, batch=args.batch, on_batch=on_batch, seed=11,
    )  # fmt: skip
    marks["posted"] = time.monotonic()
    wait_until(lambda: ping(app), 60)
    marks["worker answers"] = time.monotonic()
    took, left = wait_settled(marks["kill"], args.ceiling)
    findings = ingest_findings(stack.answers, "d1")
    return {
        "name": "1. whole-worker kill -9 during a burst (from the kill)",
        "target": TARGETS["kill"],
        "settled_s": took,
        "stuck": left,
        "duplicates": with_db(duplicates),
        "ingest": findings,
        "fivexx_stored": findings["5xx for stored items"],
        "notes": {
            "tasks running at the kill": at_kill.get("tasks running", 0),
            "worker answered a ping after s": round(marks["worker answers"] - marks["kill"], 1),
            "burst posted after s": round(marks["posted"] - marks["kill"], 1),
        },
        "cpu": cpu_delta(before, stack.supervisor.cpu()),
        "load": os.getloadavg(),
    }


def drill_redis(stack, args) -> dict:
    from reviewapp.celery import app

    log(f"drill 2: {args.items} items; Redis down for {args.outage:.0f} s in the middle")
    marks: dict[str, float] = {}
    stop_after = max(1, (args.items // args.batch) // 3)
    outage_posts: list[int] = []

    def on_batch(number: int) -> None:
        if number + 1 == stop_after:
            stack.redis.stop()
            marks["down"] = time.monotonic()
            log("drill 2: Redis stopped; ingest goes on")
        if "down" in marks and "up" not in marks:
            outage_posts.append(number)
            if time.monotonic() - marks["down"] >= args.outage:
                stack.redis.start()
                marks["up"] = time.monotonic()
                log(f"drill 2: Redis back after {marks['up'] - marks['down']:.1f} s")

    before = stack.supervisor.cpu()
    post_burst(
        stack.http(), workflow=stack.workflow, token=stack.token, drill="d2",
        items=args.items, batch=args.batch, on_batch=on_batch, seed=22,
    )  # fmt: skip
    if "up" not in marks:
        left = args.outage - (time.monotonic() - marks["down"])
        if left > 0:
            time.sleep(left)  # the outage lasts its full length even when the burst ended
        stack.redis.start()
        marks["up"] = time.monotonic()
    took, left = wait_settled(marks["up"], args.ceiling)
    findings = ingest_findings(stack.answers, "d2")
    return {
        "name": f"2. Redis down {args.outage:.0f} s during a burst (from Redis back)",
        "target": TARGETS["redis"],
        "settled_s": took,
        "stuck": left,
        "duplicates": with_db(duplicates),
        "ingest": findings,
        "fivexx_stored": findings["5xx for stored items"],
        "notes": {
            "ingest requests during the outage": len(outage_posts),
            "worker answers a ping": ping(app),
        },
        "cpu": cpu_delta(before, stack.supervisor.cpu()),
        "load": os.getloadavg(),
    }


# --- drill 3: reviewers while PostgreSQL restarts -----------------------------------------

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CLAIM_INPUT = re.compile(r'name="claim_token" value="([0-9a-f-]{36})"')
DECIDE_ACTION = re.compile(r'action="/review/(\d+)/decide"')
NOT_SAVED = re.compile(r"nothing was saved|not saved|was not saved", re.IGNORECASE)


class Reviewer(threading.Thread):
    """One reviewer deciding (accept) until ``stop`` is set; a failed request is sent again
    after a moment, as a person would press the button again."""

    def __init__(self, stack, username: str, mode: str, stop: threading.Event) -> None:
        super().__init__(name=f"reviewer {username}", daemon=True)
        self.stack = stack
        self.username = username
        self.mode = mode  # "api", "page" or "htmx"
        self.stop_event = stop
        self.http = stack.http()
        self.decided = 0
        self.error: str = ""

    def run(self) -> None:
        try:
            if self.mode == "api":
                self.run_api()
            else:
                self.login()
                self.run_page()
        except Exception as error:  # report, never hang the drill
            self.error = f"{type(error).__name__}: {error}"

    # API ----------------------------------------------------------------------------------
    def api(self, path: str, what: str, **kwargs):
        headers = {"Authorization": f"Token {self.stack.tokens[self.username]}"}
        return self.http.request("POST", path, what=what, headers=headers, **kwargs)

    def claim_api(self) -> dict | None:
        while not self.stop_event.is_set():
            response, _ = self.api(f"/api/v1/queues/{self.stack.queue_id}/claim", "claim-api")
            if response is not None and response.status_code == 200:
                return response.json()
            if response is not None and response.status_code == 204:
                return None
            time.sleep(0.5)
        return None

    def run_api(self) -> None:
        task = self.claim_api()
        while task is not None and not self.stop_event.is_set():
            body = {"claim_token": task["claim_token"], "outcome": "accept", "next": True}
            for attempt in range(1, 60):
                response, answer = self.api(
                    f"/api/v1/tasks/{task['id']}/decision", "decide-api", json=body
                )
                answer.task, answer.reviewer, answer.attempt = task["id"], self.username, attempt
                if answer.status and answer.status < 500:
                    break
                time.sleep(0.5)
            if response is None or response.status_code not in (200, 201):
                task = self.claim_api()  # the claim was lost
                continue
            self.decided += 1
            payload = response.json()
            task = payload.get("next") or (self.claim_api() if payload.get("next_error") else None)

    # pages --------------------------------------------------------------------------------
    def login(self) -> None:
        for _ in range(60):
            response, _ = self.http.request("GET", "/accounts/login/", what="login-page")
            if response is not None and response.status_code == 200:
                token = CSRF_INPUT.search(response.text)
                assert token, "no CSRF token on the login page"
                response, _ = self.http.request(
                    "POST", "/accounts/login/", what="login",
                    data={"username": self.username, "password": PASSWORD,
                          "csrfmiddlewaretoken": token.group(1)},
                )  # fmt: skip
                if response is not None and response.status_code == 302:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"{self.username} could not log in")

    def page(self, path: str) -> str | None:
        """GET a page until it answers 200 (the database may be restarting)."""
        while not self.stop_event.is_set():
            response, _ = self.http.request("GET", path, what="page")
            if response is not None and response.status_code == 200:
                return response.text
            time.sleep(0.5)
        return None

    def claim_page(self) -> str | None:
        """Review next from the queue list: the review page's HTML, or None when empty."""
        while not self.stop_event.is_set():
            listing = self.page("/queues/")
            if listing is None:
                return None
            csrf = CSRF_INPUT.search(listing)
            assert csrf, "no CSRF token on the queue list"
            response, _ = self.http.request(
                "POST", f"/queues/{self.stack.queue_id}/next", what="claim-page",
                data={"csrfmiddlewaretoken": csrf.group(1)},
            )  # fmt: skip
            if response is not None and response.status_code == 302:
                return self.page(response.headers["location"])
            if response is not None and response.status_code == 200:
                return None  # the queue is empty
            time.sleep(0.5)
        return None

    def run_page(self) -> None:
        review = self.claim_page()
        htmx = {"HX-Request": "true"} if self.mode == "htmx" else {}
        what = f"decide-{self.mode}"
        while review is not None and not self.stop_event.is_set():
            task = DECIDE_ACTION.search(review)
            claim = CLAIM_INPUT.search(review)
            csrf = CSRF_INPUT.search(review)
            if not (task and claim and csrf):
                review = self.claim_page()  # e.g. "could not load the next task"
                continue
            task_id = int(task.group(1))
            data = {
                "csrfmiddlewaretoken": csrf.group(1),
                "claim_token": claim.group(1),
                "outcome": "accept",
            }
            for attempt in range(1, 60):
                response, answer = self.http.request(
                    "POST", f"/review/{task_id}/decide", what=what, data=data,
                    headers=dict(htmx),
                )  # fmt: skip
                answer.task, answer.reviewer, answer.attempt = task_id, self.username, attempt
                if answer.status and answer.status < 500:
                    break
                time.sleep(0.5)
            if response is None or response.status_code >= 400:
                review = self.claim_page()
                continue
            self.decided += 1
            if response.status_code == 302:
                location = response.headers["location"]
                review = self.page(location) if "/review/" in location else self.claim_page()
            else:
                review = response.text
                if not DECIDE_ACTION.search(review):
                    review = self.claim_page()


def decision_findings(answers: list[Answer]) -> dict:
    """Compare every decide answer with the database."""
    from reviewapp.review.reviews.models import Decision

    decides = [a for a in answers if a.what.startswith("decide-")]
    tasks = {a.task for a in decides}
    stored = {
        task: (reviewer, decided_at.timestamp())
        for task, reviewer, decided_at in with_db(
            lambda: list(
                Decision.objects.filter(task__in=tasks).values_list(
                    "task_id", "reviewer__username", "decided_at"
                )
            )
        )
    }
    fivexx_stored, false_not_saved, unanswered_stored, bad_503 = [], [], [], []
    for answer in decides:
        decision = stored.get(answer.task)
        made_here = (
            decision is not None
            and decision[0] == answer.reviewer
            and answer.started - 0.05 <= decision[1] <= answer.ended + 0.05
        )
        if made_here and answer.status >= 500:
            fivexx_stored.append(answer)
        if made_here and answer.status == 0:
            unanswered_stored.append(answer)
        # A refusal saying nothing was saved, while this reviewer's decision is stored (by this
        # request, or by an earlier one of the same task that got no clear answer).
        mine = decision is not None and decision[0] == answer.reviewer
        if (
            mine
            and answer.status >= 400
            and (answer.status != 503 or made_here)
            and NOT_SAVED.search(answer.body)
        ):
            false_not_saved.append(answer)
        if answer.status == 503 and not NOT_SAVED.search(answer.body):
            bad_503.append(answer)
    return {
        "decide requests": len(decides),
        "status": dict(Counter((a.what, a.status) for a in decides)),
        "decisions stored": len(stored),
        "5xx for a stored decision": fivexx_stored,
        "no answer for a stored decision": unanswered_stored,
        "'nothing was saved' for a stored decision": false_not_saved,
        "503 that does not say nothing was saved": bad_503,
    }


def ensure_open_tasks(stack, args, *, wanted: int = 600) -> None:
    """Drill 3 needs open review tasks: the bursts before it leave some; alone it makes them."""
    from reviewapp.review.reviews.models import ReviewTask, TaskStatus

    if ReviewTask.objects.filter(status=TaskStatus.OPEN).count() >= wanted:
        return
    log(f"drill 3: ingesting {args.items} items first, to have tasks to review")
    post_burst(
        stack.http(), workflow=stack.workflow, token=stack.token, drill="d3",
        items=args.items, batch=args.batch, seed=33,
    )  # fmt: skip
    wait_settled(time.monotonic(), args.ceiling)


def drill_postgres(stack, args) -> dict:
    log(
        f"drill 3: four reviewers decide over HTTP for {args.decide_seconds:.0f} s; PostgreSQL "
        f"restarts {args.pg_restarts} time(s) (pg_ctl restart -m fast)"
    )
    ensure_open_tasks(stack, args)
    stop = threading.Event()
    reviewers = [
        Reviewer(stack, "alice", "api", stop),
        Reviewer(stack, "bob", "api", stop),
        Reviewer(stack, "carol", "page", stop),
        Reviewer(stack, "dave", "htmx", stop),
    ]
    before = stack.supervisor.cpu()
    began = time.monotonic()
    for reviewer in reviewers:
        reviewer.start()
    # Restarts spread over the window, the last one with a third of it still to go.
    gap = args.decide_seconds * 2 / 3 / args.pg_restarts
    restarts = []
    for number in range(args.pg_restarts):
        time.sleep(max(0.0, began + gap * (number + 0.5) - time.monotonic()))  # the pace
        started = time.monotonic()
        stack.postgres.restart()
        back = time.monotonic()
        restarts.append(round(back - started, 1))
        log(f"drill 3: PostgreSQL restarted in {back - started:.1f} s")
    time.sleep(max(0.0, began + args.decide_seconds - time.monotonic()))  # and after it
    stop.set()
    for reviewer in reviewers:
        reviewer.join(timeout=60)
    took, left = wait_settled(back, args.ceiling)
    findings = decision_findings(stack.answers)
    return {
        "name": "3. PostgreSQL restarts while reviewers decide (from the last restart's end)",
        "target": None,
        "settled_s": took,
        "stuck": left,
        "duplicates": with_db(duplicates),
        "decisions": findings,
        "fivexx_stored": len(findings["5xx for a stored decision"])
        + len(findings["no answer for a stored decision"])
        + len(findings["'nothing was saved' for a stored decision"])
        + len(findings["503 that does not say nothing was saved"]),
        "notes": {
            "restarts took s": restarts,
            "decisions (reviewers' count)": {r.username: r.decided for r in reviewers},
            "reviewer errors": {r.username: r.error for r in reviewers if r.error} or "none",
        },
        "cpu": cpu_delta(before, stack.supervisor.cpu()),
        "load": os.getloadavg(),
    }


# --- the stack -------------------------------------------------------------------------------


def ping(app) -> bool:
    # The first use of a pooled connection after a Redis restart fails and redials: try again.
    for _ in range(3):
        with contextlib.suppress(Exception):
            if app.control.ping(timeout=0.5):
                return True
    return False


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)  # polls another process's progress
    return False


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def first_answer(web: Service, base: str) -> float:
    """Seconds from the start of ``web`` to its first 200 of the login page."""
    import httpx

    while time.monotonic() - web.started_at < 120:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/accounts/login/", timeout=5).status_code == 200:
                return time.monotonic() - web.started_at
        if web.exited():
            break
        time.sleep(0.05)  # waits for gunicorn to answer
    raise RuntimeError(f"gunicorn never answered; see {web.log_path}")


class Stack:
    def __init__(self, root: Path, postgres: PrivatePostgres, redis, env: dict[str, str]) -> None:
        self.root = root
        self.postgres = postgres
        self.redis = redis
        self.env = env
        self.answers: list[Answer] = []
        self.answers_lock = threading.Lock()
        self.web_port = free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.web = Service(
            "gunicorn",
            [str(BIN / "gunicorn"), "reviewapp.wsgi", f"--bind=127.0.0.1:{self.web_port}",
             "--workers=3", "--access-logfile=-"],
            env, root / "gunicorn.log",
        )  # fmt: skip
        self.worker = Service(
            "worker",
            [str(BIN / "celery"), "--app=reviewapp", "worker", "--loglevel=INFO",
             "--concurrency=2"],
            env, root / "worker.log",
        )  # fmt: skip
        self.beat = Service(
            "beat",
            [str(BIN / "celery"), "--app=reviewapp", "beat", "--loglevel=INFO"],
            env, root / "beat.log",
        )  # fmt: skip
        self.supervisor = Supervisor(
            [self.web, self.worker, self.beat],
            {"postgres": postgres.postmaster_pid, "redis": lambda: redis.pid},
        )
        self.workflow = ""
        self.token = ""
        self.tokens: dict[str, str] = {}
        self.queue_id = 0

    def http(self) -> Http:
        """A client of its own (cookies: a session per reviewer), recording into the answers."""
        return Http(self.base, self.answers, self.answers_lock)

    def start_web(self) -> float:
        """Start gunicorn; seconds from its start to the first 200 of the login page."""
        self.web.start()
        return first_answer(self.web, self.base)

    def first_request_of_one_worker(self) -> tuple[float, float]:
        """A gunicorn of one worker started beside the stack's (nothing else warms it up):
        seconds to its first answer, and the CPU seconds it used by then (what a busy machine
        does not change)."""
        port = free_port()
        alone = Service(
            "gunicorn-1",
            [str(BIN / "gunicorn"), "reviewapp.wsgi", f"--bind=127.0.0.1:{port}",
             "--workers=1"],
            self.env, self.root / "gunicorn-1.log",
        )  # fmt: skip
        alone.start()
        try:
            took = first_answer(alone, f"http://127.0.0.1:{port}")
            alone.sample_cpu(children_of())
            return took, alone.cpu()
        finally:
            alone.stop()

    def close(self) -> None:
        self.supervisor.stop()
        for service in (self.beat, self.worker, self.web):
            service.stop()


def prepare(stack: Stack) -> None:
    """Migrate, collect static files, install the demo (workflow, model, queue, people)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.operations.demo import demo_install

    call_command("collectstatic", interactive=False, verbosity=0)
    demo = demo_install(password=PASSWORD)
    User = get_user_model()
    for username in ("carol", "dave"):
        user, _ = User.objects.get_or_create(username=username)
        user.set_password(PASSWORD)
        user.save()
        membership_add(team=demo.team, user=user, role=Role.REVIEWER)
    for username in ("alice", "bob"):
        stack.tokens[username] = Token.objects.get_or_create(
            user=User.objects.get(username=username)
        )[0].key
    stack.workflow = demo.workflow.slug
    stack.token = demo.api_token
    stack.queue_id = demo.queue.pk


def shown_settings() -> dict[str, object]:
    from django.conf import settings

    shown = {name: getattr(settings, name, None) for name in SHOWN_SETTINGS}
    shown["REVIEWAPP_RECONCILE_SECONDS"] = settings.CELERY_BEAT_SCHEDULE["resume-stuck-items"][
        "schedule"
    ]
    shown["DATABASE_CONN_MAX_AGE"] = settings.DATABASES["default"]["CONN_MAX_AGE"]
    return shown


def report(
    results: list[dict], first_request_s: tuple[float, float, float], settings_shown: dict, stack
) -> bool:
    ok = True
    print("\nSettings (defaults unless said):")
    for name, value in settings_shown.items():
        print(f"  {name} = {value}")
    print(
        "\nFirst request of a fresh gunicorn, start -> first 200 of /accounts/login/: "
        f"{first_request_s[0]:.2f} s with 3 sync workers (the stack's), "
        f"{first_request_s[1]:.2f} s with one worker (its master and worker used "
        f"{first_request_s[2]:.2f} s of CPU by then)"
    )
    for result in results:
        took = result["settled_s"]
        target = result["target"]
        dup_total = sum(result["duplicates"].values())
        stuck_total = sum(result["stuck"].values())
        passed = (
            took is not None
            and (target is None or took <= target)
            and dup_total == 0
            and stuck_total == 0
            and result["fivexx_stored"] == 0
        )
        ok = ok and passed
        print(f"\n{result['name']}: {'PASS' if passed else 'FAIL'}")
        target_text = f" (target <= {target:.0f} s)" if target else ""
        print(
            f"  settled after: {'not within the ceiling' if took is None else f'{took:.1f} s'}"
            + target_text
        )
        print(f"  items stuck: {stuck_total} {result['stuck'] or ''}")
        found = {name: n for name, n in result["duplicates"].items() if n}
        print(f"  duplicates: {dup_total} {found or ''}")
        print(f"  5xx answered for stored work: {result['fivexx_stored']}")
        if "ingest" in result:
            print(f"  ingest: {result['ingest']}")
        if "decisions" in result:
            findings = result["decisions"]
            for name, value in findings.items():
                if isinstance(value, list):
                    print(f"  {name}: {len(value)}")
                    for answer in value[:5]:
                        print(
                            f"    {answer.what} task {answer.task} attempt {answer.attempt}: "
                            f"{answer.status} {answer.body[:160]!r}"
                        )
                else:
                    print(f"  {name}: {value}")
        for name, value in result["notes"].items():
            print(f"  {name}: {value}")
        load = ", ".join(f"{x:.2f}" for x in result["load"])
        print(f"  load average (1, 5, 15 min) at the end: {load}")
        cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in result["cpu"].items())
        print(f"  CPU seconds during the drill: {cpu}")
    restarts = {s.name: len(s.restarts) for s in (stack.web, stack.worker, stack.beat)}
    print(f"\nSupervisor restarts: {restarts}")
    kept = "kept" if not ok else "removed at the end unless --keep"
    print(f"Logs: {stack.root} and {stack.postgres.log_path} ({kept})")
    return ok


def main() -> int:
    args = parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    log(f"working folder {root}")
    postgres = PrivatePostgres(port=free_port())
    log(f"PostgreSQL 15 on port {postgres.port} ({postgres.dir})")
    postgres.createdb("reviewapp")
    redis_port = free_port()
    # Everything the stack reads comes from here: nothing of the caller's database or broker.
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATABASE_", "CELERY_", "REVIEWAPP_", "DJANGO_"))
    } | {
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": postgres.url("reviewapp"),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "REVIEWAPP_VAR_DIR": str(root / "var"),
        "MEDIA_ROOT": str(root / "var" / "media"),
        "STATIC_ROOT": str(root / "var" / "static"),
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
    }
    os.environ.clear()
    # This process logs warnings only: the stack's own logs are in the working folder.
    os.environ.update(env | {"LOG_LEVEL": "WARNING"})
    stack = None
    redis = None
    ok = False
    try:
        setup_django(env["DATABASE_URL"], root / "var", broker=env["CELERY_BROKER_URL"])
        from tests.support.redis_server import RedisServer

        redis = RedisServer(port=redis_port, directory=root / "redis")
        log(f"Redis on port {redis.port}")
        stack = Stack(root, postgres, redis, env)
        prepare(stack)
        settings_shown = shown_settings()
        first_request = stack.start_web()
        log(f"gunicorn answers (first 200 after {first_request:.2f} s)")
        stack.worker.start()
        stack.beat.start()
        stack.supervisor.start()
        from reviewapp.celery import app

        if not wait_until(lambda: ping(app), 60):
            raise RuntimeError(f"the worker never answered; see {stack.worker.log_path}")
        log("worker and beat are up")
        one_worker, one_worker_cpu = stack.first_request_of_one_worker()
        log(
            f"a gunicorn of one worker answers after {one_worker:.2f} s "
            f"({one_worker_cpu:.2f} s CPU)"
        )
        drills = {"kill": drill_kill, "redis": drill_redis, "postgres": drill_postgres}
        results = [drills[name](stack, args) for name in args.drills]
        ok = report(results, (first_request, one_worker, one_worker_cpu), settings_shown, stack)
    finally:
        from django.db import connections

        connections.close_all()
        if stack is not None:
            stack.close()
        if redis is not None:
            redis.close()
        postgres.close(keep=args.keep or not ok)
        if not args.keep and ok:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


def free_port() -> int:
    """A free port below the kernel's range for outgoing connections: while a server is down
    for a drill, no client socket can be handed its port."""
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32768
    for _ in range(100):
        port = random.randrange(20000, first_ephemeral)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


if __name__ == "__main__":
    sys.exit(main())
