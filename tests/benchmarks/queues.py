"""Reviewer queues at scale: 1,000,000 open tasks in one queue, on PostgreSQL + Redis.

    make bench-queues                            # or:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python tests/benchmarks/queues.py

(1) load: 1,000,000 items, predictions and open review tasks with SQL ``INSERT ... SELECT``
    over ``generate_series`` (copying a template row the real services wrote, so every column
    has the value the application would give it), then ``VACUUM ANALYZE``;
(2) claim + decide through the real ``review_task_claim`` -> ``review_task_decide``, with
    the decision mix of ``mix.py`` (six accepts, three corrections with reasons, one
    rejection in ten; a correction first reads the model output it changes), one database
    connection per reviewer (threads in up to ``--processes`` forked processes), the resume
    tasks of the decisions on a real Celery worker (prefork, 2 processes), in two load models:

    - closed loop (``--reviewers``, default 1 and 32): each reviewer claims again the moment
      its decision returns, with no think time. This gives the saturation throughput; its
      latency is mostly queueing (Little's law: 32 reviewers in flight at 200 reviews/s is
      160 ms each on average), so it cannot say how fast a review is at a given load;
    - paced (``--paced-reviewers``, default 32, together offering ``--rate`` reviews/s,
      default 200; ``--rate 0`` skips it): real reviewers read before they decide, so each
      reviewer starts a claim + decide on a fixed schedule (every ``reviewers / rate`` s,
      staggered so the reviewers together start one every ``1 / rate`` s). Latency counts
      from the *scheduled* start, not the actual one: a reviewer that falls behind starts late
      and the delay is in its latency, so a slow server cannot hide its queueing (no
      coordinated omission). Slots that were due before the end but never started count too,
      at the time they had waited by then (a lower bound). It reports the achieved reviews/s
      and p50/p95/p99;

    with the CPU per review of the reviewers' processes and of the worker (measured until it
    has caught up), the load average after each run, and the share of the time spent in
    ``audit_record_many`` (the audit shard lock included)
    and how often pg_stat_activity saw a backend waiting on an advisory lock (the audit chain)
    or a row lock;
(3) SLA sweep: one ``sla_sweep()`` when nothing is due, then a burst where 1,000 tasks turn at
    risk, breach and escalate at once;
(4) SLA board: ``queue_boards`` (the selector) and the ``/board/`` and ``/board/queues/<id>/``
    pages for the manager of that queue: the drill-down's first page, sorted, half-way down
    the queue (a cursor page), filtered, searched for a rare and a common word; and the audit
    page (``/audit/``), first page and filtered by action.

Targets: claim + decide p95 < 25 ms and >= 200 reviews/s at 32 reviewers (the paced
run at the default rate: its achieved reviews/s and p95); one sweep < 1 s; the board < 200 ms.
It creates its own database ``reviewapp_bench_queues`` (or
``--db-name`` / ``BENCH_QUEUES_DB``) on the server DATABASE_URL points at and drops it at the
end; ``--keep-db`` keeps it and ``--reuse-db`` measures again on a kept one without loading
(``--reviewers`` with no number skips the closed loop of (2), ``--rate 0`` the paced run).
Not a test: pytest collects ``test_*.py`` only.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchdb import Worker, database_urls, recreate_database, setup_django
from mix import (
    CORRECT_SLOTS,
    MIX,
    decision_for,
    load,
    outcome_for,
    tree_cpu_seconds,
    wait_worker_idle,
)

# BENCH_QUEUES_DB (or --db-name) names another database, so that two runs on one server
# (e.g. several engineers at once) do not drop each other's.
BENCH_DB = os.environ.get("BENCH_QUEUES_DB", "reviewapp_bench_queues")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="open tasks to load")
    parser.add_argument(
        "--reviewers",
        type=int,
        nargs="*",
        default=[1, 32],
        help="concurrency levels in (2); none skips (2)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20, help="how long each concurrency level runs in (2)"
    )
    parser.add_argument(
        "--processes", type=int, default=4, help="processes the reviewers are spread over in (2)"
    )
    parser.add_argument(
        "--paced-reviewers",
        type=int,
        default=32,
        help="reviewers of the paced run in (2), together offering --rate",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=200,
        help="reviews/s the paced reviewers offer together in (2); 0 skips the paced run",
    )
    parser.add_argument("--burst", type=int, default=1000, help="tasks breaching at once in (3)")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {BENCH_DB} behind")
    parser.add_argument(
        "--db-name", default=BENCH_DB, help="database to create (env BENCH_QUEUES_DB)"
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="measure again on the database a --keep-db run left: skips (1) and keeps it",
    )
    args = parser.parse_args()
    if args.rate < 0 or args.paced_reviewers < 1:
        parser.error("--rate takes 0 (no paced run) or more; --paced-reviewers at least 1")
    args.keep_db = args.keep_db or args.reuse_db
    if not args.db_name.isidentifier():
        parser.error("--db-name takes letters, digits and underscores only")
    return args


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- (1) load ----------------------------------------------------------------------------------


def _copy_rows(
    model, template_id: int, source: str, overrides: dict[str, str], where: str = "TRUE"
) -> str:
    """``INSERT INTO <model> SELECT`` every column of the template row (``t``) once per row of
    ``source``, but the overridden ones: columns added later get the application's values."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = [overrides.get(column, f't."{column}"') for column in columns]
    names = ", ".join(f'"{column}"' for column in columns)
    # Built from model metadata and this script's own constants, never from input.
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(values)} "  # noqa: S608
        f"FROM {source} CROSS JOIN {table} t WHERE t.id = {template_id} AND ({where})"
    )


def _templates(demo):
    """One item, prediction and task written by the real code: the rows the load copies."""
    from reviewapp.review.reviews.opening import review_task_open
    from workflows.models import Item, ItemStatus, Prediction

    item = Item.objects.create(
        workflow=demo.workflow,
        workflow_version=demo.workflow.current_version,
        status=ItemStatus.AWAITING_REVIEW,
        input={"subject": "Charged twice", "body": "Billed twice.", "customer_tier": "pro"},
        request_hash="bench",
    )
    prediction = Prediction.objects.create(
        item=item,
        model_version=demo.model_version,
        output={"label": "billing"},
        confidence=0.7,
        probabilities={"billing": 0.7},
        latency_ms=1.0,
    )
    return item, prediction, review_task_open(item=item, queue_slug=demo.queue.slug)


def load_tasks(demo, count: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from reviewapp.review.reviews.models import ReviewTask
    from workflows.models import Item, Prediction

    started = time.perf_counter()
    with transaction.atomic():
        template_item, template_prediction, template_task = _templates(demo)
    queue = demo.queue
    queue.refresh_from_db()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(
            _copy_rows(
                Item,
                template_item.pk,
                f"generate_series(1, {count - 1}) g",
                {
                    "input": "jsonb_build_object('subject', 'Ticket ' || g, 'body', "
                    "'Body of ticket ' || g, 'customer_tier', 'pro')",
                    "request_hash": "md5(g::text)",
                    "created_at": f"'{now.isoformat()}'::timestamptz - g * interval '1 second'",
                    "updated_at": f"'{now.isoformat()}'::timestamptz",
                },
            )
        )
        cursor.execute(
            _copy_rows(
                Prediction,
                template_prediction.pk,
                f"{Item._meta.db_table} i",
                {
                    "item_id": "i.id",
                    "confidence": "0.5 + (i.id % 500) / 1000.0",
                    "created_at": "i.created_at",
                },
                where=f"i.id > {template_item.pk}",
            )
        )
        # Deadlines a day or more away: the sweep finds nothing due until the burst.
        due = (
            f"('{now.isoformat()}'::timestamptz + interval '1 day' "
            "+ (i.id % 86400) * interval '1 second')"
        )
        cursor.execute(
            _copy_rows(
                ReviewTask,
                template_task.pk,
                f"{Item._meta.db_table} i JOIN {Prediction._meta.db_table} p ON p.item_id = i.id",
                {
                    "item_id": "i.id",
                    "priority": "(i.id % 6)",
                    "uncertainty": "1 - p.confidence",
                    "claim_score": f"{queue.priority_weight} * (i.id % 6) "
                    f"+ {queue.uncertainty_weight} * (1 - p.confidence)",
                    "due_at": due,
                    "warn_at": f"{due} - interval '15 minutes'",
                    "created_at": "i.created_at",
                    # What the drill-down lists and searches: one task in 5,000 is about a
                    # refund (a rare word), the labels take turns.
                    "subject": "(i.input ->> 'subject') || "
                    "CASE WHEN i.id % 5000 = 0 THEN ' refund request' ELSE '' END",
                    "predicted_label": "(ARRAY['billing', 'technical', 'account', 'shipping'])"
                    "[1 + i.id % 4]",
                },
                where=f"i.id > {template_item.pk}",
            )
        )
    for table in (Item, Prediction, ReviewTask):
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {table._meta.db_table}")
    return time.perf_counter() - started


def existing_demo():
    """The demo a --keep-db run installed, without installing it again. Tasks that an earlier
    run's burst made at risk or breached are cancelled, so their next rungs do not fall due in
    this run's quiet sweeps."""
    from reviewapp.core.accounts.models import Team
    from reviewapp.operations.demo import Demo
    from reviewapp.review.reviews.models import LIVE_STATUSES, Queue, ReviewTask, TaskStatus
    from workflows.demo.definition import TICKET_TRIAGE
    from workflows.models import ModelVersion

    queue = Queue.objects.select_related("workflow").get(slug=TICKET_TRIAGE.queue_slug)
    ReviewTask.objects.filter(
        queue=queue, status__in=LIVE_STATUSES, at_risk_at__isnull=False
    ).update(status=TaskStatus.CANCELLED)
    return Demo(
        team=Team.objects.get(slug="support"),
        workflow=queue.workflow,
        queue=queue,
        model_version=ModelVersion.objects.order_by("-pk").first(),
    )


# --- (2) claim + decide ------------------------------------------------------------------------


class AuditClock:
    """Wraps ``audit_record_many`` where the review services call it (``task_audit``): seconds
    spent inside, per thread (the wait for a shard of the workflow's chain included)."""

    def __init__(self) -> None:
        import reviewapp.review.reviews.events as events

        self.events = events
        self.original = events.audit_record_many
        self.local = threading.local()
        clock = self

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return clock.original(*args, **kwargs)
            finally:
                clock.local.spent = getattr(clock.local, "spent", 0.0) + time.perf_counter() - began

        events.audit_record_many = timed

    def spent(self) -> float:
        return getattr(self.local, "spent", 0.0)

    def restore(self) -> None:
        self.events.audit_record_many = self.original


class WaitSampler(threading.Thread):
    """Samples pg_stat_activity every 20 ms: active backends of our database and what they
    wait for."""

    def __init__(self, dsn: str):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop = threading.Event()
        self.samples = 0
        self.active = 0
        self.advisory = 0
        self.row_lock = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()",
                    [BENCH_DB],
                ).fetchall()
                self.samples += 1
                self.active += len(rows)
                self.advisory += sum(1 for kind, event in rows if event == "advisory")
                self.row_lock += sum(
                    1 for kind, event in rows if kind == "Lock" and event != "advisory"
                )
                time.sleep(0.02)


def _review_in_threads(
    reviewers: list[tuple[int, float | None]],
    interval: float | None,
    queue_id: int,
    start: float,
    deadline: float,
    results,
) -> None:
    """One process: a thread (and a database connection) per reviewer, from ``start`` until
    ``deadline`` (``time.monotonic``, shared by the processes).

    Each reviewer first makes one claim + decide that is not measured (its connection, and the
    statements it compiles and prepares once), as a running server would have. ``reviewers``
    pairs a user id with the time of its first scheduled review; with an ``interval`` each
    reviewer starts a review every ``interval`` seconds from then (paced), else (closed loop)
    from ``start`` as soon as the last one returns.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviewapp.review.reviews.claims import review_task_claim
    from reviewapp.review.reviews.decisions import review_task_decide
    from reviewapp.review.reviews.models import Queue
    from workflows.models import Prediction

    queue = Queue.objects.get(pk=queue_id)
    users = get_user_model().objects.in_bulk([user_id for user_id, _ in reviewers])
    connection.close()
    clock = AuditClock()
    lock = threading.Lock()
    totals: dict = {
        "latencies": [],
        "claims": [],
        "missed": [],
        "audit": 0.0,
        "errors": [],
        "outcomes": Counter(),
    }

    def decide(task, user, index: int) -> str:
        # A correction changes what the reviewer saw: the model's output (a read the review
        # page and the API's claim make too).
        model_output = None
        if outcome_for(index) == "correct":
            model_output = (
                Prediction.objects.filter(item_id=task.item_id)
                .values_list("output", flat=True)
                .first()
            )
        fields = decision_for(index, model_output)
        review_task_decide(task=task, reviewer=user, claim_token=task.claim_token, **fields)
        return fields["outcome"]

    def review(user, first: float | None) -> None:
        mine: list[float] = []
        claims: list[float] = []
        missed: list[float] = []
        outcomes: Counter = Counter()
        scheduled = first
        index = user.pk  # reviewers start at different places in the mix
        try:
            task = review_task_claim(queue=queue, reviewer=user)
            if task is not None:
                decide(task, user, CORRECT_SLOTS[0])  # a correction warms up the most
            clock.local.spent = 0.0
            time.sleep(max(0.0, start - time.monotonic()))
            while True:
                if scheduled is None:  # closed loop
                    if time.monotonic() >= deadline:
                        break
                    began = time.monotonic()
                else:
                    # Nothing starts after the end: a reviewer still behind then has missed slots.
                    if scheduled >= deadline or time.monotonic() >= deadline:
                        break
                    wait = scheduled - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    began = scheduled  # a late start counts against the review
                started = time.monotonic()
                task = review_task_claim(queue=queue, reviewer=user)
                claimed = time.monotonic()
                if task is None:
                    break
                outcomes[decide(task, user, index)] += 1
                index += 1
                mine.append(time.monotonic() - began)
                claims.append(claimed - started)
                if scheduled is not None and interval is not None:
                    scheduled += interval
            # Slots that fell due before the end but never started: what they waited so far.
            while scheduled is not None and interval is not None and scheduled < deadline:
                missed.append(deadline - scheduled)
                scheduled += interval
        except BaseException as exc:  # reported by the parent; a crash must not hang it
            totals["errors"].append(repr(exc))
        finally:
            connection.close()
            with lock:
                totals["latencies"].extend(mine)
                totals["claims"].extend(claims)
                totals["missed"].extend(missed)
                totals["audit"] += clock.spent()
                totals["outcomes"] += outcomes

    threads = [
        threading.Thread(target=review, args=(users[user_id], first))
        for user_id, first in reviewers
    ]
    for thread in threads:
        thread.start()
    # This process's CPU from the start line (the warm-ups are done by then) to the end.
    time.sleep(max(0.0, start - time.monotonic()))
    cpu_began = time.process_time()
    for thread in threads:
        thread.join()
    totals["cpu_s"] = time.process_time() - cpu_began
    results.put(totals)


def bench_reviews(
    demo,
    *,
    reviewers: int,
    processes: int,
    seconds: float,
    dsn: str,
    worker: Worker,
    rate: float | None = None,
) -> dict:
    """``reviewers`` reviewers spread over up to ``processes`` forked processes (threads in
    one process share its interpreter lock, which would measure Python, not the queue): a
    closed loop, or paced to offer ``rate`` reviews/s together."""
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.review.reviews.models import ReviewTask

    user_ids = []
    for index in range(reviewers):
        user, created = get_user_model().objects.get_or_create(username=f"bench-reviewer-{index}")
        if created:
            membership_add(team=demo.team, user=user, role=Role.REVIEWER)
        user_ids.append(user.pk)
    # What autovacuum does in a deployment (migration reviews 0005 vacuums review tasks every
    # 20,000 changed rows); the server here may run without it, and then every earlier run's
    # claims leave dead entries at the head of the claim index for this run to walk over.
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {ReviewTask._meta.db_table}")
    connections.close_all()  # a forked child must open its own connections
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    count = max(1, min(processes, reviewers))
    # Five seconds to start every process and warm every reviewer up.
    start = time.monotonic() + 5
    deadline = start + seconds
    if rate:
        # Reviewer i first starts at start + i / rate, then every reviewers / rate seconds: one
        # review starts every 1 / rate seconds overall, evenly spread.
        interval: float | None = reviewers / rate
        schedule = [(user_id, start + index / rate) for index, user_id in enumerate(user_ids)]
    else:
        interval = None
        schedule = [(user_id, None) for user_id in user_ids]
    reviewer_processes = [
        context.Process(
            target=_review_in_threads,
            args=(schedule[index::count], interval, demo.queue.pk, start, deadline, results),
        )
        for index in range(count)
    ]
    worker_cpu = tree_cpu_seconds(worker.process.pid)
    for process in reviewer_processes:
        process.start()
    sampler = WaitSampler(dsn)
    sampler.start()
    totals = [results.get(timeout=seconds + 600) for _ in reviewer_processes]
    for process in reviewer_processes:
        process.join(timeout=60)
    sampler.stop.set()
    sampler.join()
    load_after = load()
    # The resume tasks of these decisions run on the real worker; its CPU counts until it has
    # caught up (what it still had of the warm-ups is in it too: a few reviews).
    resume_s = wait_worker_idle()
    worker_cpu = tree_cpu_seconds(worker.process.pid) - worker_cpu
    errors = [error for total in totals for error in total["errors"]]
    if errors:
        sys.exit(f"(2) a reviewer failed: {errors[0]}")
    done = [value for total in totals for value in total["latencies"]]
    missed = [value for total in totals for value in total["missed"]]
    ordered = sorted(done + missed)
    claims_ordered = sorted(value for total in totals for value in total["claims"])
    audit = sum(total["audit"] for total in totals)
    outcomes: Counter = sum((total["outcomes"] for total in totals), Counter())
    cpu = sum(total["cpu_s"] for total in totals)
    return {
        "load": load_after,
        "outcomes": outcomes,
        "cpu_ms_per_review": 1000 * cpu / len(done) if done else 0.0,
        "worker_cpu_ms_per_review": 1000 * worker_cpu / len(done) if done else 0.0,
        "resume_s": resume_s,
        "reviewers": reviewers,
        "processes": count,
        "rate": rate,
        "decisions": len(done),
        "missed": len(missed),
        "reviews_per_s": len(done) / seconds,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * percentile(ordered, 0.95),
        "p99_ms": 1000 * percentile(ordered, 0.99),
        "claim_p50_ms": 1000 * statistics.median(claims_ordered),
        "claim_p95_ms": 1000 * percentile(claims_ordered, 0.95),
        "audit_share": audit / sum(done) if done else 0.0,
        "advisory_wait_share": sampler.advisory / sampler.active if sampler.active else 0.0,
        "row_lock_wait_share": sampler.row_lock / sampler.active if sampler.active else 0.0,
    }


# --- (3) SLA sweep ----------------------------------------------------------------------------


def bench_sweeps(demo, *, burst: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from reviewapp.review.reviews.models import ReviewTask, TaskStatus
    from reviewapp.review.sla.sweep import sla_sweep

    quiet = []
    for _ in range(3):
        began = time.perf_counter()
        report = sla_sweep()
        quiet.append(time.perf_counter() - began)
        assert (report.at_risk, report.breached, report.escalated) == (0, 0, 0), report
    ids = list(
        ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.OPEN)
        .order_by("-id")
        .values_list("id", flat=True)[:burst]
    )
    past = timezone.now() - timezone.timedelta(minutes=1)
    ReviewTask.objects.filter(pk__in=ids).update(warn_at=past, due_at=past)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ReviewTask._meta.db_table}")
    began = time.perf_counter()
    report = sla_sweep()
    burst_s = time.perf_counter() - began
    began = time.perf_counter()
    after = sla_sweep()
    after_s = time.perf_counter() - began
    return {
        "quiet_ms": [1000 * value for value in quiet],
        "burst_ms": 1000 * burst_s,
        "burst_report": report,
        "after_burst_ms": 1000 * after_s,
        "after_burst_report": after,
    }


# --- (4) SLA board -----------------------------------------------------------------------------


def bench_board(demo, runs: int = 7) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from reviewapp.review.sla.board import _open_key, queue_boards

    manager = get_user_model().objects.get(username="maria")
    client = Client(HTTP_HOST="localhost")
    client.force_login(manager)

    def timed(call) -> float:
        call()  # warm caches and the connection
        values = []
        for _ in range(runs):
            began = time.perf_counter()
            call()
            values.append(1000 * (time.perf_counter() - began))
        return statistics.median(values)

    def page(path: str):
        def get():
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return get

    def recounted(call):
        # The pages reuse an open count for a few seconds: this is the poll that counts again
        # (the figures of the ended days stay kept, as they do between polls).
        def run():
            cache.delete(_open_key(demo.queue.pk))
            call()

        return run

    drill_down = f"/board/queues/{demo.queue.pk}/"
    deep = _deep_cursors(demo.queue)
    return {
        "selector_ms": timed(lambda: queue_boards([demo.queue])),
        "board_page_ms": timed(page("/board/")),
        "queue_page_ms": timed(page(drill_down)),
        "board_page_recount_ms": timed(recounted(page("/board/"))),
        "queue_page_recount_ms": timed(recounted(page(drill_down))),
        "at_risk_page_ms": timed(page(f"{drill_down}?state=at_risk")),
        "breached_page_ms": timed(page(f"{drill_down}?state=breached")),
        "sorted_page_ms": timed(page(f"{drill_down}?sort=confidence")),
        "deep_page_ms": timed(page(f"{drill_down}?after={deep['urgency']}")),
        "deep_sorted_page_ms": timed(page(f"{drill_down}?sort=priority&after={deep['priority']}")),
        "filtered_page_ms": timed(
            page(f"{drill_down}?label=technical&confidence_min=60&confidence_max=80")
        ),
        "search_rare_ms": timed(page(f"{drill_down}?q=refund")),
        "search_common_ms": timed(page(f"{drill_down}?q=ticket+12")),
        "audit_page_ms": timed(page("/audit/")),
        "audit_filtered_ms": timed(page("/audit/?action=task.claimed")),
    }


def _deep_cursors(queue) -> dict[str, str]:
    """The cursor of the task half-way down the queue in two orders (found once, with an
    OFFSET the page itself never uses)."""
    from reviewapp.review.reviews.models import LIVE_STATUSES, ReviewTask
    from reviewapp.review.sla.drill_down import SORTS, cursor_encode, task_key

    live = ReviewTask.objects.filter(queue=queue, status__in=LIVE_STATUSES)
    half = live.count() // 2
    cursors = {}
    for sort in ("urgency", "priority"):
        task = live.order_by(*(key.asc() for key in SORTS[sort].keys))[half]
        cursors[sort] = cursor_encode(sort, task_key(task, sort))
    return cursors


def board_report(board: dict) -> str:
    """The drill-down and audit timings, each beside the 200 ms target."""
    names = {
        "sorted_page_ms": "sorted (least confident first)",
        "deep_page_ms": "half-way down (cursor page)",
        "deep_sorted_page_ms": "half-way down, by priority",
        "filtered_page_ms": "filtered (label, confidence 60-80 %)",
        "search_rare_ms": "search, a rare word",
        "search_common_ms": "search, a common one",
        "audit_page_ms": "/audit/ first page",
        "audit_filtered_ms": "/audit/ filtered by action",
    }
    return "\n".join(
        f"    {label:<38} {board[key]:>7.1f} ms  (target < 200 ms: "
        f"{'met' if board[key] < 200 else 'MISSED'})"
        for key, label in names.items()
    )


# --- report ------------------------------------------------------------------------------------


def main() -> None:
    global BENCH_DB
    args = parse_args()
    BENCH_DB = args.db_name.lower()
    maintenance_url, bench_url = database_urls(BENCH_DB)
    dsn = bench_url.replace("postgres://", "postgresql://", 1)
    var_dir = Path(tempfile.mkdtemp(prefix="reviewapp-bench-queues-"))
    fresh = "reused" if args.reuse_db else "created fresh"
    print(f"database {BENCH_DB} ({fresh}), media in {var_dir}", flush=True)
    if not args.reuse_db:
        recreate_database(maintenance_url, BENCH_DB)
    # Each part prints its figures as soon as it has them: a later failure loses nothing.
    worker = None
    try:
        setup_django(bench_url, var_dir, broker="redis://127.0.0.1:6379/13")
        from reviewapp.celery import app
        from reviewapp.operations.demo import demo_install, demo_sla_install
        from reviewapp.review.reviews.models import ReviewTask, TaskStatus

        app.control.purge()
        if args.reuse_db:
            demo = existing_demo()
            open_tasks = ReviewTask.objects.filter(status=TaskStatus.OPEN).count()
            print(f"(1) reused: {open_tasks:,} open tasks", flush=True)
        else:
            demo = demo_install(password="bench-password-not-secret")
            demo_sla_install(demo)
            print(f"(1) loading {args.tasks:,} open tasks...", flush=True)
            load_s = load_tasks(demo, args.tasks)
            open_tasks = args.tasks
            print(
                f"(1) load: {args.tasks:,} items + predictions + open tasks in {load_s:.1f} s "
                f"({load()})",
                flush=True,
            )
        levels: list[tuple[int, float | None]] = [(count, None) for count in args.reviewers]
        if args.rate:
            levels.append((args.paced_reviewers, args.rate))
        if levels:
            worker = Worker(var_dir / "worker.log")
            worker.wait_ready()
            print(
                f"(2) claim + decide ({MIX}), one connection per reviewer, through the "
                f"services, over up to {args.processes} processes, {args.seconds:g} s per run; "
                "the resume tasks on a real Celery worker (prefork, 2); paced: latency from the "
                "scheduled start, slots never started count as missed; CPU: the reviewers' "
                "processes (service) and the worker (resume), per review"
            )
            print(
                "    model   reviewers  offered/s  decisions  missed  reviews/s  p50 ms  p95 ms  "
                "p99 ms  claim p50/p95 ms  audit share  advisory-wait  row-lock-wait  "
                "CPU ms/review service+resume  load after",
                flush=True,
            )
        for count, rate in levels:
            row = bench_reviews(
                demo,
                reviewers=count,
                processes=args.processes,
                seconds=args.seconds,
                dsn=dsn,
                worker=worker,
                rate=rate,
            )
            offered = f"{rate:.0f}" if rate else "-"
            cpu = f"{row['cpu_ms_per_review']:.1f}+{row['worker_cpu_ms_per_review']:.1f}"
            print(
                f"    {'paced' if rate else 'closed':<6}  {row['reviewers']:>9}  {offered:>9}  "
                f"{row['decisions']:>9}  {row['missed']:>6}  {row['reviews_per_s']:>9.0f}  "
                f"{row['p50_ms']:>6.1f}  {row['p95_ms']:>6.1f}  {row['p99_ms']:>6.1f}  "
                f"{row['claim_p50_ms']:>7.1f}/{row['claim_p95_ms']:<8.1f}  "
                f"{row['audit_share']:>11.0%}  {row['advisory_wait_share']:>13.0%}  "
                f"{row['row_lock_wait_share']:>13.0%}  {cpu:>29}  {row['load']}",
                flush=True,
            )
            mix = ", ".join(f"{name} {n}" for name, n in sorted(row["outcomes"].items()))
            print(f"            decided: {mix}; worker caught up {row['resume_s']:.1f} s after")
        if worker is not None:
            worker.stop()
            worker = None
        app.control.purge()
        sweeps = bench_sweeps(demo, burst=args.burst)
        quiet = ", ".join(f"{value:.1f}" for value in sweeps["quiet_ms"])
        print(f"(3) SLA sweep over {open_tasks:,} open tasks, nothing due: {quiet} ms ({load()})")
        report = sweeps["burst_report"]
        print(
            f"    burst of {args.burst}: {sweeps['burst_ms']:.0f} ms (at risk {report.at_risk}, "
            f"breached {report.breached}, escalated {report.escalated}); the sweep after it: "
            f"{sweeps['after_burst_ms']:.1f} ms",
            flush=True,
        )
        board = bench_board(demo)
        print(
            f"(4) SLA board (medians of 7): selector (exact) {board['selector_ms']:.1f} ms, "
            f"/board/ {board['board_page_ms']:.1f} ms, /board/queues/<id>/ "
            f"{board['queue_page_ms']:.1f} ms;\n"
            f"    the poll that recounts the open tasks: /board/ "
            f"{board['board_page_recount_ms']:.1f} ms, /board/queues/<id>/ "
            f"{board['queue_page_recount_ms']:.1f} ms; drill-down ?state=at_risk "
            f"{board['at_risk_page_ms']:.1f} ms, "
            f"?state=breached {board['breached_page_ms']:.1f} ms ({load()})",
            flush=True,
        )
        print(board_report(board), flush=True)
        app.control.purge()
    finally:
        if worker is not None:
            worker.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(maintenance_url, BENCH_DB, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
