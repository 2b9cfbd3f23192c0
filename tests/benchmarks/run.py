"""Throughput and latency of the three hot paths, against PostgreSQL + Redis.

    make bench                                   # or:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python tests/benchmarks/run.py

(a) ingest -> routed: items/s from the first ingest call until every item is completed or
    awaiting review, with a real Celery worker subprocess (2 processes) running the batch
    pipeline (one message per ``--pipeline-batch`` items); then, in this process without
    Celery, the same pipeline's items/s and each step's cost: each step alone in its own
    transaction (locks, step function, bulk writes, audit, commit) is timed at batch sizes 1
    and ``--pipeline-batch``, giving a fixed cost per batch-step and a marginal cost per item;
(b) claim + decide: latency p50/p95 and reviews/s at 1 and 16 concurrent reviewers (threads, one
    database connection each), each looping review_task_claim -> review_task_decide(accept);
(c) export: rows/s of dataset_export_build for every format over N corrections.

It creates its own database (``reviewapp_bench`` on the server of DATABASE_URL, dropped and
created fresh, migrated) and its own media folder, so it never touches dev or test data. Not a
test: pytest collects ``test_*.py`` only.
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
from mix import MIX, decision_for, load, outcome_for, tree_cpu_seconds, wait_worker_idle

REPO = Path(__file__).resolve().parents[2]
BENCH_DB = "reviewapp_bench"
FORMATS = ("jsonl", "csv", "parquet", "label_studio")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items to ingest in (a)")
    parser.add_argument("--batch", type=int, default=500, help="items per ingest call")
    parser.add_argument(
        "--reviews", type=int, default=400, help="decisions per concurrency level in (b)"
    )
    parser.add_argument(
        "--reviewers", type=int, nargs="+", default=[1, 16], help="concurrency levels in (b)"
    )
    parser.add_argument("--corrections", type=int, default=20000, help="rows to export in (c)")
    parser.add_argument(
        "--pipeline-batch", type=int, default=250, help="items per pipeline message in (a)"
    )
    parser.add_argument(
        "--in-process-items", type=int, default=1000, help="items for (a)'s in-process run"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for (a)")
    parser.add_argument("--keep-db", action="store_true", help="leave the database behind")
    parser.add_argument("--db-name", default=BENCH_DB, help="the database to create and drop")
    return parser.parse_args()


# --- a database and an environment of our own ----------------------------------------------


# --- (a) ingest -> routed ------------------------------------------------------------------


def bench_pipeline(demo, *, items: int, batch: int, timeout: float, seed: int) -> dict:
    from django.db.models import Count

    from reviewapp.operations.demo import demo_items_submit
    from workflows.models import Item

    before = Item.objects.count()
    started = time.perf_counter()
    demo_items_submit(demo, count=items, seed=seed, batch=batch)
    ingested = time.perf_counter() - started
    while True:
        counts = dict(Item.objects.values_list("status").annotate(n=Count("id")))
        finished = sum(counts.get(s, 0) for s in ("completed", "awaiting_review", "dead_lettered"))
        if finished >= before + items:
            break
        if time.perf_counter() - started > timeout:
            sys.exit(f"(a) timed out after {timeout:.0f} s: {counts}")
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    return {
        "load": load(),
        "items": items,
        "ingest_s": ingested,
        "elapsed_s": elapsed,
        "items_per_s": items / elapsed,
        "statuses": counts,
    }


def bench_pipeline_in_process(demo, *, items: int, batch: int, seed: int) -> dict:
    """The batch pipeline in this process (no broker): items/s (``items_run``, all steps of a
    batch in one transaction, as the worker runs them), and per step the cost of that step
    alone in its own transaction at batch size 1 and ``batch`` -> fixed ms per batch-step +
    marginal ms per item."""
    from reviewapp.operations.demo import demo_items_submit
    from workflows.models import Item
    from workflows.pipeline.engine import items_run, items_run_step
    from workflows.pipeline.order import STEP_NAMES

    def ingest(count: int, seed: int) -> list[int]:
        before = Item.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        demo_items_submit(demo, count=count, seed=seed, batch=max(count, 1))
        return list(Item.objects.filter(pk__gt=before).order_by("pk").values_list("pk", flat=True))

    # Per-step timings: `rounds` batches of one and `rounds` full batches, step by step.
    rounds = 5
    timings: dict[str, dict[int, list[float]]] = {s: {1: [], batch: []} for s in STEP_NAMES}
    for size in (1, batch):
        for round_ in range(rounds):
            ids = ingest(size, seed=1000 + 10 * size + round_)
            for step in STEP_NAMES:
                began = time.perf_counter()
                items_run_step(item_ids=ids, step=step)
                timings[step][size].append((time.perf_counter() - began) * 1000)
    steps = []
    for step in STEP_NAMES:
        one = statistics.median(timings[step][1])
        full = statistics.median(timings[step][batch])
        per_item = (full - one) / (batch - 1) if batch > 1 else one
        steps.append(
            {
                "step": step,
                "batch_1_ms": one,
                "batch_n_ms": full,
                "per_item_ms": per_item,
                "fixed_ms": one - per_item,
            }
        )
    # Throughput: ingest, then each batch through all steps as a worker runs it.
    began = time.perf_counter()
    ids = ingest(items, seed=seed)
    ingested = time.perf_counter() - began
    for start in range(0, len(ids), batch):
        items_run(item_ids=ids[start : start + batch])
    elapsed = time.perf_counter() - began
    return {
        "load": load(),
        "items": items,
        "batch": batch,
        "ingest_s": ingested,
        "elapsed_s": elapsed,
        "items_per_s": items / elapsed,
        "steps": steps,
    }


def ensure_open_tasks(demo, *, needed: int, batch: int, timeout: float) -> int:
    """Top the review queue up with more routed items until it holds ``needed`` open tasks."""
    from reviewapp.review.reviews.models import ReviewTask

    def open_tasks() -> int:
        return ReviewTask.objects.filter(queue=demo.queue, status="open").count()

    seed = 100
    while (have := open_tasks()) < needed:
        # About a quarter of the demo tickets need a human; ask for a margin more.
        extra = max(batch, int((needed - have) * 4.5))
        bench_pipeline(demo, items=extra, batch=batch, timeout=timeout, seed=seed)
        seed += 1
    return have


# --- (b) claim + decide --------------------------------------------------------------------


def bench_reviews(demo, *, reviewers: int, decisions: int, worker: Worker) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviewapp.core.accounts.models import Role
    from reviewapp.core.accounts.services import membership_add
    from reviewapp.review.reviews.claims import review_task_claim
    from reviewapp.review.reviews.decisions import review_task_decide
    from workflows.models import Prediction

    users = []
    for index in range(reviewers):
        user, created = get_user_model().objects.get_or_create(username=f"bench-reviewer-{index}")
        if created:
            membership_add(team=demo.team, user=user, role=Role.REVIEWER)
        users.append(user)

    lock = threading.Lock()
    remaining = [decisions]
    latencies: list[float] = []
    errors: list[BaseException] = []
    start_line = threading.Barrier(reviewers)

    outcomes: Counter = Counter()

    def review(user) -> None:
        mine: list[float] = []
        index = user.pk  # reviewers start at different places in the mix
        try:
            start_line.wait()
            while True:
                with lock:
                    if remaining[0] <= 0:
                        break
                    remaining[0] -= 1
                began = time.perf_counter()
                task = review_task_claim(queue=demo.queue, reviewer=user)
                if task is None:
                    break
                model_output = None
                if outcome_for(index) == "correct":  # what the reviewer changes
                    model_output = (
                        Prediction.objects.filter(item_id=task.item_id)
                        .values_list("output", flat=True)
                        .first()
                    )
                fields = decision_for(index, model_output)
                review_task_decide(task=task, reviewer=user, claim_token=task.claim_token, **fields)
                index += 1
                mine.append(time.perf_counter() - began)
                with lock:
                    outcomes[fields["outcome"]] += 1
        except BaseException as exc:  # reported after the join; a crash must not hang it
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=review, args=(user,)) for user in users]
    worker_cpu = tree_cpu_seconds(worker.process.pid)
    cpu_began = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
        if thread.is_alive():
            sys.exit("(b) a reviewer thread did not finish in 600 s (deadlock?)")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_began
    load_after = load()
    resume_s = wait_worker_idle()
    worker_cpu = tree_cpu_seconds(worker.process.pid) - worker_cpu
    if errors:
        raise errors[0]
    ordered = sorted(latencies)
    return {
        "outcomes": outcomes,
        "cpu_ms_per_review": 1000 * cpu / len(ordered),
        "worker_cpu_ms_per_review": 1000 * worker_cpu / len(ordered),
        "resume_s": resume_s,
        "load": load_after,
        "reviewers": reviewers,
        "decisions": len(ordered),
        "elapsed_s": elapsed,
        "reviews_per_s": len(ordered) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


# --- (c) export ----------------------------------------------------------------------------


def corrections_create(demo, *, count: int) -> None:
    """Bulk-insert ``count`` corrections with the items, tasks and decisions they hang off.

    Inputs and model outputs come from real routed items, so rows have realistic sizes.
    """
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from reviewapp.review.corrections.models import Correction
    from reviewapp.review.corrections.services import (
        canonical_hash,
        output_diff,
        reviewer_pseudonym,
    )
    from reviewapp.review.reviews.models import Decision, ReviewTask
    from workflows.models import Item, Prediction

    version = demo.workflow.current_version
    labels = list(version.definition["labels"])
    predictions = Prediction.objects.select_related("item", "model_version").order_by("pk")
    samples = [(p.item.input, p.output, str(p.model_version)) for p in predictions[:500]]
    reviewer = get_user_model().objects.get(username="alice")
    pseudonym = reviewer_pseudonym(reviewer)
    now = timezone.now()
    chunk = 2000
    for start in range(0, count, chunk):
        # Real inputs made unique (exports drop duplicate inputs) by numbering their body.
        chosen = [
            (source | {"body": f"{source['body']} #{start + i}"}, output, model)
            for i in range(min(chunk, count - start))
            for source, output, model in [samples[(start + i) % len(samples)]]
        ]
        with transaction.atomic():
            items = Item.objects.bulk_create(
                Item(
                    workflow=demo.workflow,
                    workflow_version=version,
                    status="completed",
                    outcome="corrected",
                    input=source_input,
                    final_output={},
                    request_hash="0" * 64,
                    completed_at=now,
                )
                for source_input, _, _ in chosen
            )
            tasks = ReviewTask.objects.bulk_create(
                ReviewTask(item=item, queue=demo.queue, status="decided", decided_at=now)
                for item in items
            )
            humans = [
                {"label": next(x for x in labels if x != model_output.get("label"))}
                for _, model_output, _ in chosen
            ]
            decisions = Decision.objects.bulk_create(
                Decision(
                    task=task, reviewer=reviewer, outcome="correct", output=human, decided_at=now
                )
                for task, human in zip(tasks, humans, strict=True)
            )
            Correction.objects.bulk_create(
                Correction(
                    decision=decision,
                    item=item,
                    workflow=demo.workflow,
                    workflow_version=version,
                    input=item.input,
                    input_hash=canonical_hash(item.input),
                    model_output=model_output,
                    human_output=human,
                    diff=output_diff(model_output, human),
                    reason_codes=["wrong-category"],
                    model_version=model_version,
                    reviewer_pseudonym=pseudonym,
                    created_at=now,
                )
                for decision, item, human, (_, model_output, model_version) in zip(
                    decisions, items, humans, chosen, strict=True
                )
            )


def bench_export(demo, *, export_format: str) -> dict:
    from django.contrib.auth import get_user_model

    from reviewapp.learn.datasets.services import (
        dataset_export_approve,
        dataset_export_build,
        dataset_export_request,
    )

    users = get_user_model().objects
    export = dataset_export_request(
        workflow=demo.workflow, requested_by=users.get(username="mel"), export_format=export_format
    )
    # Approval enqueues a build; no worker runs during (c) and the queue is purged afterwards,
    # so the build timed here is the only one.
    dataset_export_approve(export=export, approver=users.get(username="ines"))
    started = time.perf_counter()
    built = dataset_export_build(export_id=export.pk)
    elapsed = time.perf_counter() - started
    assert built is not None and built.status == "ready", built
    return {
        "load": load(),
        "format": export_format,
        "rows": built.rows_done,
        "elapsed_s": elapsed,
        "rows_per_s": built.rows_done / elapsed,
        "mb": built.size_bytes / 1e6,
    }


# --- the run -------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([f"\n{title}", *lines])


def report(
    args, pipeline: dict, in_process: dict, reviews: list[dict], exports: list[dict]
) -> None:
    statuses = ", ".join(f"{name} {n}" for name, n in sorted(pipeline["statuses"].items()))
    print(table(
        f"(a) ingest -> routed, worker concurrency 2, {args.pipeline_batch} items per message"
        f" (items now: {statuses})",
        ["items", "ingest s", "routed after s", "items/s", "load after"],
        [[pipeline["items"], f"{pipeline['ingest_s']:.2f}", f"{pipeline['elapsed_s']:.2f}",
          f"{pipeline['items_per_s']:.0f}", pipeline["load"]]],
    ))  # fmt: skip
    print(table(
        "    step function time per item (StepRun.duration_ms: the batch's share, no DB writes)",
        ["step", "runs", "mean ms"],
        [[s["step"], s["runs"], f"{s['mean_ms']:.3f}"] for s in pipeline["steps"]],
    ))  # fmt: skip
    print(table(
        f"(a') the same pipeline in this process, no Celery, batches of {in_process['batch']}",
        ["items", "ingest s", "routed after s", "items/s", "load after"],
        [[in_process["items"], f"{in_process['ingest_s']:.2f}",
          f"{in_process['elapsed_s']:.2f}", f"{in_process['items_per_s']:.0f}",
          in_process["load"]]],
    ))  # fmt: skip
    print(table(
        "    each step alone in its own transaction (locks, step, bulk writes, audit, commit),"
        " median of 5: fixed cost per batch-step + marginal cost per item",
        ["step", "batch of 1 ms", f"batch of {in_process['batch']} ms", "fixed ms/batch",
         "ms/item"],
        [[s["step"], f"{s['batch_1_ms']:.2f}", f"{s['batch_n_ms']:.2f}", f"{s['fixed_ms']:.2f}",
          f"{s['per_item_ms']:.3f}"] for s in in_process["steps"]],
    ))  # fmt: skip
    if not reviews:
        return
    print(table(
        f"(b) claim + decide ({MIX}), one database connection per reviewer, the resume tasks"
        " on the worker; CPU per review: this process (service) + the worker (resume, until it"
        " caught up)",
        ["reviewers", "decisions", "p50 ms", "p95 ms", "reviews/s", "CPU ms service+resume",
         "accept/correct/reject", "load after"],
        [[r["reviewers"], r["decisions"], f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}",
          f"{r['reviews_per_s']:.0f}",
          f"{r['cpu_ms_per_review']:.1f}+{r['worker_cpu_ms_per_review']:.1f}",
          "/".join(str(r["outcomes"][o]) for o in ("accept", "correct", "reject")),
          r["load"]] for r in reviews],
    ))  # fmt: skip
    if not exports:
        return
    print(table(
        f"(c) dataset_export_build over {args.corrections} corrections",
        ["format", "rows", "seconds", "rows/s", "MB", "load after"],
        [[e["format"], e["rows"], f"{e['elapsed_s']:.2f}", f"{e['rows_per_s']:.0f}",
          f"{e['mb']:.1f}", e["load"]] for e in exports],
    ))  # fmt: skip


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = database_urls(args.db_name)
    var_dir = Path(tempfile.mkdtemp(prefix="reviewapp-bench-"))
    print(f"database {args.db_name} (created fresh), media in {var_dir}", flush=True)
    recreate_database(maintenance_url, args.db_name)
    # The ingest (here) splits items into pipeline messages; the worker inherits it too.
    os.environ["REVIEWAPP_PIPELINE_BATCH"] = str(args.pipeline_batch)
    worker = None
    try:
        setup_django(bench_url, var_dir, broker="redis://127.0.0.1:6379/14")
        from reviewapp.celery import app
        from reviewapp.operations.demo import demo_install

        app.control.purge()
        demo = demo_install(password="bench-password-not-secret")
        worker = Worker(var_dir / "worker.log")
        worker.wait_ready()
        print(f"(a) ingesting {args.items} items, waiting until all are routed...", flush=True)
        pipeline = bench_pipeline(
            demo, items=args.items, batch=args.batch, timeout=args.timeout, seed=1
        )
        pipeline["steps"] = bench_step_means()
        reviews = []
        if args.reviews > 0:
            needed = args.reviews * len(args.reviewers)
            print(f"(b) topping the queue up to {needed} open tasks...", flush=True)
            ensure_open_tasks(demo, needed=needed, batch=args.batch, timeout=args.timeout)
            for count in args.reviewers:
                print(f"(b) {count} reviewer(s), {args.reviews} decisions...", flush=True)
                reviews.append(
                    bench_reviews(demo, reviewers=count, decisions=args.reviews, worker=worker)
                )
        worker.stop()
        worker = None
        app.control.purge()
        print(f"(a') {args.in_process_items} items through the pipeline in-process...", flush=True)
        in_process = bench_pipeline_in_process(
            demo, items=args.in_process_items, batch=args.pipeline_batch, seed=2
        )
        exports = []
        if args.corrections > 0:
            print(f"(c) creating {args.corrections} corrections...", flush=True)
            corrections_create(demo, count=args.corrections)
            for export_format in FORMATS:
                print(f"(c) building a {export_format} export...", flush=True)
                exports.append(bench_export(demo, export_format=export_format))
        app.control.purge()
    finally:
        if worker is not None:
            worker.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(maintenance_url, args.db_name, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    report(args, pipeline, in_process, reviews, exports)


def bench_step_means() -> list[dict]:
    from django.db.models import Avg, Count

    from workflows.models import StepRun

    return list(
        StepRun.objects.filter(status="succeeded")
        .values("step")
        .annotate(mean_ms=Avg("duration_ms"), runs=Count("id"))
        .order_by("step")
    )


if __name__ == "__main__":
    main()
