"""Reviews over HTTP on a production-shaped stack, beside the in-process figure of the same run.

    make bench-http                              # or:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python tests/benchmarks/over_http.py

It starts its own stack: gunicorn as the Dockerfile runs it (``reviewapp.wsgi`` with
``reviewapp.gunicorn_config``: 3 gthread workers of 4 threads) on a free port with production
settings (``DEBUG=false``; only ``SECURE_SSL_REDIRECT=false``, for plain HTTP on loopback), a
Celery worker (prefork, 2) and beat, on the PostgreSQL server DATABASE_URL names (a database
of its own, ``reviewapp_bench_http``, dropped at the end) and the Redis db CELERY_BROKER_URL
names. It
loads ``--tasks`` open tasks with the bulk loader of ``queues.py``, runs ``VACUUM ANALYZE``,
and then measures, each reviewer with a connection (and session) of its own, the decision mix
of ``mix.py``:

(1) in process: ``review_task_claim`` + ``review_task_decide`` through the services (as
    ``make bench-queues``), at 1 and ``--reviewers``, closed loop;
(2) API flow: ``POST /api/v1/queues/<id>/claim``, then ``POST /api/v1/tasks/<id>/decision``
    with ``"next": true`` (the answer carries the next task), token auth; closed loop at 1 and
    ``--reviewers``, and paced (``--rate`` reviews/s offered by ``--reviewers`` together;
    latency from the scheduled start, slots never started count as missed);
(3) browser flow: signed in through the login form; "Review next" once, then per review
    ``GET /review/<id>/`` (the page) and ``POST /review/<id>/decide`` exactly as htmx sends
    "Submit and next" (the form's fields, ``HX-Request``, ``HX-Target``, ``HX-Current-URL`` and
    the ``X-CSRFToken`` header of ``<body hx-headers>``), answered with the next task's page;
    closed loop at 1 and ``--reviewers``;
(4) ``--logins`` people signing in at the same moment (GET the form, POST it);
(5) bulk ingest over HTTP: ``--ingest`` items in batches of ``--batch``, items/s until every
    item is routed (completed or awaiting review).

For every run: reviews/s, p50/p95/p99 per kind of request, CPU ms per review of the web
processes (gunicorn and its workers), of this client, and of the Celery worker, and the load
average. The last line is the summary (ratios: reviews/s over HTTP at ``--reviewers`` over the
in-process figure at ``--reviewers``; web CPU: the API flow's, closed loop at ``--reviewers``):

    bench-http: api_ratio=R browser_ratio=R logins_p95_ms=N ingest_items_s=N web_cpu_ms_per_review=N

Not a test: pytest collects ``test_*.py`` only.
"""

import argparse
import contextlib
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from benchdb import database_urls, recreate_database, setup_django
from mix import MIX, decision_for, load, tree_cpu_seconds, wait_worker_idle
from recovery import BIN, CSRF_INPUT, Answer, Http, Service, free_port

BENCH_DB = os.environ.get("BENCH_HTTP_DB", "reviewapp_bench_http")
PASSWORD = "bench-http-password-not-secret"
SECRET_KEY = "bench-http-only-3e9c1a7f5b2d8e4a6c0f9b1d3e5a7c9f2b4d6e8a0c1e3f5a7b9d"
DECIDE_ACTION = re.compile(r'action="/review/(\d+)/decide"')
CLAIM_INPUT = re.compile(r'name="claim_token" value="([0-9a-f-]{36})"')
SELECTED = re.compile(r'<option value="([^"]*)" selected>')
# What --parts selects: (1) to (5) of the module's docstring.
PARTS = ("in-process", "api", "browser", "logins", "ingest")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000, help="open tasks to load")
    parser.add_argument("--reviewers", type=int, default=32, help="reviewers of the big runs")
    parser.add_argument("--seconds", type=float, default=15, help="length of each run")
    parser.add_argument("--rate", type=float, default=100, help="reviews/s of the paced run")
    parser.add_argument("--logins", type=int, default=50, help="simultaneous sign-ins")
    parser.add_argument("--ingest", type=int, default=2000, help="items to ingest over HTTP")
    parser.add_argument("--batch", type=int, default=500, help="items per ingest request")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--db-name", default=BENCH_DB, help="database to create and drop")
    parser.add_argument("--keep-db", action="store_true", help="leave the database behind")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"which runs, comma-separated, of {','.join(PARTS)} (default: all; the summary "
        "line comes only when all run)",
    )
    args = parser.parse_args()
    args.parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if args.parts - set(PARTS):
        parser.error(f"--parts takes {', '.join(PARTS)}")
    if not args.db_name.isidentifier():
        parser.error("--db-name takes letters, digits and underscores only")
    return args


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def latencies(answers: list[Answer], what: str) -> str:
    values = sorted(1000 * (a.ended - a.started) for a in answers if a.what == what)
    if not values:
        return f"{what}: none"
    return (
        f"{what} p50/p95/p99 {percentile(values, 0.5):.1f}/{percentile(values, 0.95):.1f}/"
        f"{percentile(values, 0.99):.1f} ms (n={len(values)})"
    )


# --- the stack -------------------------------------------------------------------------------


class Stack:
    def __init__(self, root: Path, env: dict[str, str], web_workers: int, web_threads: int) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # As the Dockerfile runs it (its access log aside: one line per request would be
        # this benchmark's own cost).
        self.web = Service(
            "gunicorn",
            [str(BIN / "gunicorn"), "reviewapp.wsgi", "--config=python:reviewapp.gunicorn_config",
             f"--bind=127.0.0.1:{self.port}", f"--workers={web_workers}",
             f"--threads={web_threads}"],
            env, root / "gunicorn.log",
        )  # fmt: skip
        self.worker = Service(
            "worker",
            [str(BIN / "celery"), "--app=reviewapp", "worker", "--loglevel=WARNING",
             "--concurrency=2", "--without-gossip", "--without-mingle"],
            env, root / "worker.log",
        )  # fmt: skip
        self.beat = Service(
            "beat",
            [str(BIN / "celery"), "--app=reviewapp", "beat", "--loglevel=WARNING",
             f"--schedule={root / 'beat-schedule'}"],
            env, root / "beat.log",
        )  # fmt: skip
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.queue_id = 0
        self.workflow = ""
        self.ingest_token = ""
        self.tokens: dict[str, str] = {}

    def start(self) -> None:
        for service in (self.web, self.worker, self.beat):
            service.start()
        deadline = time.monotonic() + 120
        http = self.http()
        while time.monotonic() < deadline:
            response, _ = http.request("GET", "/accounts/login/", what="warm", record=False)
            if response is not None and response.status_code == 200:
                break
            if self.web.exited():
                sys.exit(f"gunicorn exited; see {self.web.log_path}")
            time.sleep(0.3)
        else:
            sys.exit(f"gunicorn did not answer in 120 s; see {self.web.log_path}")

    def http(self) -> Http:
        return Http(self.base, self.answers, self.lock)

    def web_cpu(self) -> float:
        return tree_cpu_seconds(self.web.pid)

    def worker_cpu(self) -> float:
        return tree_cpu_seconds(self.worker.pid)

    def close(self) -> None:
        for service in (self.beat, self.worker, self.web):
            service.stop()


def prepare(stack: Stack, *, tasks: int, reviewers: int, logins: int):
    """The demo, ``tasks`` open tasks, the reviewers (one password hash for all: hashing it
    per user would only slow the set-up) and their API tokens; then VACUUM ANALYZE."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from queues import load_tasks

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.operations.demo import demo_install, demo_sla_install
    from tests.support.tokens import token_for

    call_command("collectstatic", interactive=False, verbosity=0)
    demo = demo_install(password=PASSWORD)
    demo_sla_install(demo)
    load_tasks(demo, tasks)
    User = get_user_model()
    hashed = User.objects.get(username="alice").password
    for index in range(max(reviewers, logins)):
        user, created = User.objects.get_or_create(username=f"bench-reviewer-{index}")
        if created:
            user.password = hashed
            user.save(update_fields=["password"])
            membership_add(team=demo.team, user=user, role=Role.REVIEWER)
        stack.tokens[user.username] = token_for(user, name="bench-http")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    stack.queue_id = demo.queue.pk
    stack.workflow = demo.workflow.slug
    stack.ingest_token = demo.api_token
    return demo


# --- reviewers over HTTP -----------------------------------------------------------------------


class Reviewer(threading.Thread):
    """One reviewer: through the API or the pages, closed loop or paced, until ``deadline``."""

    def __init__(
        self, stack: Stack, username: str, mode: str, start: float, deadline: float,
        first: float | None = None, interval: float | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name=username, daemon=True)
        self.stack, self.username, self.mode = stack, username, mode
        self.start_at, self.deadline = start, deadline
        self.scheduled, self.interval = first, interval
        # Signed in and warmed up: ready; the run (start, deadline, schedule) is set on go.
        self.ready, self.go = threading.Event(), threading.Event()
        self.http = stack.http()
        self.index = int(username.rsplit("-", 1)[1])  # reviewers start at different places
        self.reviews: list[float] = []
        self.missed: list[float] = []
        self.outcomes: Counter = Counter()
        self.error = ""

    def run(self) -> None:
        try:
            if self.mode == "api":
                self.run_api()
            else:
                self.run_pages()
        except Exception as error:  # reported; a crash must not hang the run
            self.error = f"{self.username}: {type(error).__name__}: {error}"
        finally:
            self.ready.set()

    def _wait_turn(self) -> float | None:
        """When the next review starts (its scheduled time when paced), or None at the end."""
        if self.scheduled is None:
            now = time.monotonic()
            return None if now >= self.deadline else now
        if self.scheduled >= self.deadline or time.monotonic() >= self.deadline:
            while self.scheduled < self.deadline and self.interval:
                self.missed.append(self.deadline - self.scheduled)
                self.scheduled += self.interval
            return None
        time.sleep(max(0.0, self.scheduled - time.monotonic()))
        began = self.scheduled
        self.scheduled += self.interval or 0
        return began

    def _api(self, path: str, what: str, body: dict | None = None):
        headers = {"Authorization": f"Token {self.stack.tokens[self.username]}"}
        response, answer = self.http.request(
            "POST", path, what=what, headers=headers, json=body, record=self.measuring()
        )
        if response is None or response.status_code >= 500:
            raise RuntimeError(f"{what} answered {answer.status}: {answer.body[:200]}")
        return response

    def measuring(self) -> bool:
        return time.monotonic() >= self.start_at

    def run_api(self) -> None:
        claim = f"/api/v1/queues/{self.stack.queue_id}/claim"
        task = self._api(claim, "api claim").json()  # the warm-up: unmeasured
        self.ready.set()
        self.go.wait()
        while task:
            began = self._wait_turn()
            if began is None:
                return
            fields = decision_for(self.index, task["prediction"]["output"])
            body = {"claim_token": task["claim_token"], "next": True, **fields}
            response = self._api(f"/api/v1/tasks/{task['id']}/decision", "api decide+next", body)
            if response.status_code != 201:
                raise RuntimeError(f"decision answered {response.status_code}: {response.text}")
            self.reviews.append(time.monotonic() - began)
            self.outcomes[fields["outcome"]] += 1
            self.index += 1
            task = response.json().get("next")

    def sign_in(self, *, record: bool = False) -> None:
        response, _ = self.http.request("GET", "/accounts/login/", what="login form", record=record)
        assert response is not None and response.status_code == 200, "no login form"
        csrf = CSRF_INPUT.search(response.text)
        assert csrf, "no CSRF token on the login form"
        response, answer = self.http.request(
            "POST", "/accounts/login/", what="login", record=record,
            data={"username": self.username, "password": PASSWORD,
                  "csrfmiddlewaretoken": csrf.group(1)},
        )  # fmt: skip
        if response is None or response.status_code != 302:
            raise RuntimeError(f"{self.username} could not sign in: {answer.status}")

    def run_pages(self) -> None:
        for attempt in range(5):  # many signing in at once may time out: a person tries again
            try:
                self.sign_in()
                break
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(1)
        listing, _ = self.http.request("GET", "/queues/", what="queues", record=False)
        assert listing is not None and listing.status_code == 200
        csrf = CSRF_INPUT.search(listing.text)
        assert csrf, "no CSRF token on the queue list"
        response, _ = self.http.request(
            "POST", f"/queues/{self.stack.queue_id}/next", what="review next", record=False,
            data={"csrfmiddlewaretoken": csrf.group(1)},
        )  # fmt: skip
        assert response is not None and response.status_code == 302, "no task to review"
        path = urlsplit(response.headers["location"]).path
        self.ready.set()
        self.go.wait()
        while path:
            began = self._wait_turn()
            if began is None:
                return
            page, answer = self.http.request(
                "GET", path, what="review page", record=self.measuring()
            )
            if page is None or page.status_code != 200:
                raise RuntimeError(f"the review page answered {answer.status}")
            html = page.text
            task, claim, csrf = (
                DECIDE_ACTION.search(html), CLAIM_INPUT.search(html), CSRF_INPUT.search(html)
            )  # fmt: skip
            if not (task and claim and csrf):
                return  # nothing left to review
            model = SELECTED.search(html)
            fields = decision_for(self.index, {"label": model.group(1) if model else None})
            data: dict[str, object] = {
                "csrfmiddlewaretoken": csrf.group(1),
                "claim_token": claim.group(1),
                "time_spent_ms": "4000",
                "outcome": fields["outcome"],
                "comment": "",
            }
            if fields["outcome"] == "correct":
                data["output.label"] = fields["output"]["label"]
                data["reason_codes"] = fields["reason_codes"]
            elif fields["outcome"] == "reject":
                data["reason_codes_reject"] = fields["reason_codes"]
            decide = f"/review/{task.group(1)}/decide"
            response, answer = self.http.request(
                "POST", decide, what="submit and next", data=data, record=self.measuring(),
                headers={"HX-Request": "true", "HX-Target": "review",
                         "HX-Current-URL": self.stack.base + path,
                         "X-CSRFToken": csrf.group(1)},
            )  # fmt: skip
            if response is None or response.status_code != 200:
                raise RuntimeError(f"submit and next answered {answer.status}: {answer.body[:300]}")
            self.reviews.append(time.monotonic() - began)
            self.outcomes[fields["outcome"]] += 1
            self.index += 1
            # htmx swaps the next task's page in; a reader who reloads would GET its address.
            following = DECIDE_ACTION.search(response.text)
            path = f"/review/{following.group(1)}/" if following else ""


def run_reviewers(
    stack: Stack, *, mode: str, reviewers: int, seconds: float, rate: float | None = None
) -> dict:
    stack.answers.clear()
    people = [
        Reviewer(stack, f"bench-reviewer-{index}", mode, math.inf, math.inf)
        for index in range(reviewers)
    ]
    for person in people:
        person.start()
    for person in people:  # every reviewer signed in and past one claim
        person.ready.wait(timeout=600)
    start = time.monotonic() + 0.5
    deadline = start + seconds
    for index, person in enumerate(people):
        person.start_at, person.deadline = start, deadline
        if rate:
            # Reviewer i first at start + i / rate, then every reviewers / rate seconds: one
            # review starts every 1 / rate seconds overall.
            person.scheduled, person.interval = start + index / rate, reviewers / rate
        person.go.set()
    time.sleep(max(0.0, start - time.monotonic()))
    web, worker, client = stack.web_cpu(), stack.worker_cpu(), time.process_time()
    for person in people:
        person.join(timeout=seconds + 300)
    web, client = stack.web_cpu() - web, time.process_time() - client
    load_after = load()
    resume_s = wait_worker_idle()
    worker = stack.worker_cpu() - worker
    errors = [person.error for person in people if person.error]
    if errors:
        sys.exit(f"{mode}: {errors[0]}")
    done = [value for person in people for value in person.reviews]
    ordered = sorted(done + [value for person in people for value in person.missed])
    count = max(1, len(done))
    return {
        "mode": mode,
        "reviewers": reviewers,
        "rate": rate,
        "reviews": len(done),
        "missed": sum(len(person.missed) for person in people),
        "reviews_per_s": len(done) / seconds,
        "p50_ms": 1000 * percentile(ordered, 0.5),
        "p95_ms": 1000 * percentile(ordered, 0.95),
        "p99_ms": 1000 * percentile(ordered, 0.99),
        "kinds": [
            latencies(stack.answers, kind)
            for kind in sorted({answer.what for answer in stack.answers})
        ],
        "web_cpu_ms": 1000 * web / count,
        "client_cpu_ms": 1000 * client / count,
        "worker_cpu_ms": 1000 * worker / count,
        "resume_s": resume_s,
        "outcomes": sum((person.outcomes for person in people), Counter()),
        "load": load_after,
    }


def bench_logins(stack: Stack, *, people: int) -> dict:
    """``people`` sign-ins released at the same moment; the time of each form POST (one that
    failed or timed out counts with the time it took to fail)."""
    stack.answers.clear()
    gate = threading.Barrier(people)
    web = stack.web_cpu()

    def sign_in(index: int) -> None:
        person = Reviewer(stack, f"bench-reviewer-{index}", "pages", 0, 0)
        gate.wait(timeout=60)
        with contextlib.suppress(Exception):  # counted below from its answer
            person.sign_in(record=True)

    threads = [threading.Thread(target=sign_in, args=(i,)) for i in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    answers = [a for a in stack.answers if a.what == "login"]
    posts = sorted(1000 * (a.ended - a.started) for a in answers)
    return {
        "p50_ms": percentile(posts, 0.5),
        "p95_ms": percentile(posts, 0.95),
        "max_ms": posts[-1] if posts else 0.0,
        "failed": people - sum(1 for a in answers if a.status == 302),
        "web_cpu_ms_per_login": 1000 * (stack.web_cpu() - web) / people,
        "load": load(),
    }


def bench_ingest(stack: Stack, *, items: int, batch: int, key: str = "bench") -> dict:
    """Tickets POSTed in batches (an Idempotency-Key each) until every item is routed."""
    from workflows.demo.tickets import generate_tickets
    from workflows.models import Item

    stack.answers.clear()
    inputs = [ticket.as_input() for ticket in generate_tickets(items, seed=len(key) + items)]
    before = Item.objects.count()
    http = stack.http()
    headers = {"Authorization": f"Token {stack.ingest_token}"}
    began = time.monotonic()
    web = stack.web_cpu()
    for number, first in enumerate(range(0, items, batch)):
        body = {"items": [{"input": each} for each in inputs[first : first + batch]]}
        response, answer = http.request(
            "POST", f"/api/v1/workflows/{stack.workflow}/items", what="ingest batch",
            json=body, headers={**headers, "Idempotency-Key": f"{key}-{number}"},
        )  # fmt: skip
        if response is None or response.status_code not in (200, 201):
            sys.exit(f"ingest answered {answer.status}: {answer.body[:300]}")
    posted = time.monotonic() - began
    while Item.objects.filter(pk__gt=0, status__in=["received", "running"]).count() and (
        time.monotonic() - began < 600
    ):
        time.sleep(0.2)
    routed = time.monotonic() - began
    return {
        "items": Item.objects.count() - before,
        "posted_s": posted,
        "routed_s": routed,
        "items_per_s": items / routed,
        "batch": latencies(stack.answers, "ingest batch"),
        "web_cpu_ms_per_item": 1000 * (stack.web_cpu() - web) / items,
        "load": load(),
    }


# --- report ------------------------------------------------------------------------------------


def print_run(title: str, row: dict) -> None:
    mix = "/".join(str(row["outcomes"][o]) for o in ("accept", "correct", "reject"))
    offered = f", offered {row['rate']:.0f}/s, missed {row['missed']}" if row.get("rate") else ""
    print(
        f"  {title:<22} {row['reviewers']:>3} reviewers{offered}: {row['reviews']} reviews "
        f"({mix} accept/correct/reject), {row['reviews_per_s']:.1f} reviews/s, per review "
        f"p50/p95/p99 {row['p50_ms']:.1f}/{row['p95_ms']:.1f}/{row['p99_ms']:.1f} ms; CPU ms "
        f"per review: web {row['web_cpu_ms']:.1f}, client {row['client_cpu_ms']:.1f}, worker "
        f"{row['worker_cpu_ms']:.1f} (caught up {row['resume_s']:.1f} s after); {row['load']}",
        flush=True,
    )
    for kind in row.get("kinds", []):
        print(f"      {kind}", flush=True)


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = database_urls(args.db_name)
    root = Path(tempfile.mkdtemp(prefix="reviewapp-bench-http-"))
    print(f"database {args.db_name} (created fresh), logs in {root}; {load()}", flush=True)
    recreate_database(maintenance_url, args.db_name)
    stack = None
    # Production settings here too: collectstatic must write the manifest the web reads.
    os.environ.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_ROOT": str(root / "static"),
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        setup_django(bench_url, root, broker="redis://127.0.0.1:6379/8")
        import queues

        from reviewapp.celery import app

        queues.BENCH_DB = args.db_name  # whose backends its wait sampler watches
        app.control.purge()
        stack = Stack(root, dict(os.environ), args.web_workers, args.web_threads)
        print(f"loading {args.tasks:,} open tasks, {args.reviewers} reviewers...", flush=True)
        demo = prepare(stack, tasks=args.tasks, reviewers=args.reviewers, logins=args.logins)
        stack.start()
        print(
            f"stack: gunicorn ({args.web_workers} gthread workers x {args.web_threads} threads) "
            f"on {stack.base}, a Celery worker (prefork, 2) and beat; {args.tasks:,} open "
            f"tasks, VACUUM ANALYZE done; "
            f"decisions: {MIX}; {load()}",
            flush=True,
        )
        # Unmeasured: every web worker and pool process past its first requests and tasks
        # (imports, connections, the model loaded), as a running site would be.
        for mode in ("api", "pages"):
            warm = args.web_workers * args.web_threads
            run_reviewers(stack, mode=mode, reviewers=warm, seconds=3)
        bench_ingest(stack, items=100, batch=25, key="warm-up")  # both pool processes
        print(f"warmed up (web, worker); {load()}", flush=True)
        dsn = bench_url.replace("postgres://", "postgresql://", 1)
        in_process, api, browser, logins, ingest = {}, {}, {}, {}, {}
        if "in-process" in args.parts:
            print("(1) in process, through the services (CPU: the reviewers' processes)")
        for count in (1, args.reviewers) if "in-process" in args.parts else ():
            row = queues.bench_reviews(
                demo, reviewers=count, processes=4, seconds=args.seconds, dsn=dsn,
                worker=stack.worker,
            )  # fmt: skip
            in_process[count] = row
            print(
                f"  in process             {count:>3} reviewers: {row['decisions']} reviews, "
                f"{row['reviews_per_s']:.1f} reviews/s, p50/p95/p99 {row['p50_ms']:.1f}/"
                f"{row['p95_ms']:.1f}/{row['p99_ms']:.1f} ms; CPU ms per review: service "
                f"{row['cpu_ms_per_review']:.1f}, worker {row['worker_cpu_ms_per_review']:.1f}; "
                f"{row['load']}",
                flush=True,
            )
        if "api" in args.parts:
            print("(2) API flow (claim, then decide with next)", flush=True)
            for count in (1, args.reviewers):
                api[count] = run_reviewers(stack, mode="api", reviewers=count, seconds=args.seconds)
                print_run("api closed loop", api[count])
            paced = run_reviewers(
                stack, mode="api", reviewers=args.reviewers, seconds=args.seconds, rate=args.rate
            )
            print_run("api paced", paced)
        if "browser" in args.parts:
            print("(3) browser flow (the review page, then Submit and next as htmx sends it)")
            for count in (1, args.reviewers):
                browser[count] = run_reviewers(
                    stack, mode="pages", reviewers=count, seconds=args.seconds
                )
                print_run("browser closed loop", browser[count])
        if "logins" in args.parts:
            logins = bench_logins(stack, people=args.logins)
            print(
                f"(4) {args.logins} simultaneous sign-ins: p50 {logins['p50_ms']:.0f} ms, p95 "
                f"{logins['p95_ms']:.0f} ms, slowest {logins['max_ms']:.0f} ms, failed (no "
                f"answer in 40 s or refused) {logins['failed']}; web CPU "
                f"{logins['web_cpu_ms_per_login']:.0f} ms per sign-in; {logins['load']}",
                flush=True,
            )
        if "ingest" in args.parts:
            ingest = bench_ingest(stack, items=args.ingest, batch=args.batch)
            print(
                f"(5) bulk ingest over HTTP: {ingest['items']} items in batches of {args.batch}, "
                f"posted in {ingest['posted_s']:.1f} s, routed after {ingest['routed_s']:.1f} "
                f"s: {ingest['items_per_s']:.0f} items/s; {ingest['batch']}; web CPU "
                f"{ingest['web_cpu_ms_per_item']:.2f} ms per item; {ingest['load']}",
                flush=True,
            )
        if set(PARTS) <= args.parts:
            base = in_process[args.reviewers]["reviews_per_s"] or 1.0
            print(
                f"bench-http: api_ratio={api[args.reviewers]['reviews_per_s'] / base:.2f} "
                f"browser_ratio={browser[args.reviewers]['reviews_per_s'] / base:.2f} "
                f"logins_p95_ms={logins['p95_ms']:.0f} "
                f"ingest_items_s={ingest['items_per_s']:.0f} "
                f"web_cpu_ms_per_review={api[args.reviewers]['web_cpu_ms']:.0f}",
                flush=True,
            )
    finally:
        if stack is not None:
            stack.close()
        from django.db import connections

        connections.close_all()
        with contextlib.suppress(Exception):
            from reviewapp.celery import app

            app.control.purge()
        if not args.keep_db:
            recreate_database(maintenance_url, args.db_name, drop_only=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
