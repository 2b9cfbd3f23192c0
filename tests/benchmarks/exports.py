"""Dataset export speed and memory: every format over 100,000 and 1,000,000 corrections.

    make bench-exports                          # or:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... \
        python tests/benchmarks/exports.py --sizes 100000 1000000

It creates its own database (``reviewapp_bench_exports``, or ``BENCH_EXPORTS_DB``, on the server
of DATABASE_URL, dropped and created fresh, migrated, dropped again at the end unless
``--keep-db``) and its own media folder. Corrections are cloned in SQL from one real
item/task/decision/correction chain made through the ORM (inputs from the demo ticket
generator, numbered so none is a duplicate), so making a million takes seconds, not an ORM save
per row.

Each export is built by the real ``dataset_export_build`` in a fresh subprocess, which reports
its wall time, its own CPU time (the database server's work is in the wall time only) and the
RSS high-water mark of its process (``ru_maxrss``) before and after the build: "memory flat in
N" means the peak is the same for 100,000 and 1,000,000 rows.

``--object-store`` builds into a bucket of a local S3-compatible server instead (moto's
``moto_server`` on a free loopback port, started and stopped here; REVIEWAPP_STORAGE=s3, README
"Storage"): the release is written in the build's temporary folder and uploaded in parts. The
parent samples the build process's resident memory (VmRSS) every 0.2 s and prints the samples'
peak and spread, with the load average of the machine before and after each build.

    make bench-exports BENCH_ARGS="--object-store --sizes 100000 1000000 --formats jsonl"

Not a test: pytest collects ``test_*.py`` only.
"""

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import database_urls, recreate_database, setup_django

REPO = Path(__file__).resolve().parents[2]
# BENCH_EXPORTS_DB names another database, so that two runs on one server do not drop each
# other's.
BENCH_DB = os.environ.get("BENCH_EXPORTS_DB", "reviewapp_bench_exports")
BROKER = "redis://127.0.0.1:6379/12"
FORMATS = ("jsonl", "csv", "parquet", "label_studio", "hf_dataset")
SAMPLES = 500  # distinct ticket texts the clones cycle through


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--keep-db", action="store_true", help=f"leave {BENCH_DB} behind")
    parser.add_argument(
        "--object-store",
        action="store_true",
        help="build into a bucket of a local S3-compatible server (moto_server)",
    )
    # Internal: the per-export subprocess.
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- data -----------------------------------------------------------------------------------


def _template(demo):
    """One real item -> task -> decision -> correction chain that the SQL clones copy."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from reviewapp.review.corrections.models import Correction
    from reviewapp.review.corrections.services import canonical_hash, reviewer_pseudonym
    from reviewapp.review.reviews.models import Decision, ReviewTask
    from workflows.models import Item

    version = demo.workflow.current_version
    reviewer = get_user_model().objects.get(username="alice")
    now = timezone.now()
    item = Item.objects.create(
        workflow=demo.workflow,
        workflow_version=version,
        status="completed",
        outcome="corrected",
        input={},
        final_output={},
        request_hash="0" * 64,
        completed_at=now,
    )
    task = ReviewTask.objects.create(item=item, queue=demo.queue, status="decided", decided_at=now)
    decision = Decision.objects.create(
        task=task, reviewer=reviewer, outcome="correct", output={}, decided_at=now
    )
    correction = Correction.objects.create(
        decision=decision,
        item=item,
        workflow=demo.workflow,
        workflow_version=version,
        input={},
        input_hash=canonical_hash({}),
        model_output={},
        human_output={},
        reason_codes=["wrong-category"],
        comment="=looks like billing to me",
        model_version=str(demo.model_version),
        reviewer_pseudonym=reviewer_pseudonym(reviewer),
        created_at=now,
    )
    return item, task, decision, correction


def _samples(cursor, demo) -> None:
    """A temp table of ticket inputs with a model answer and a (different) human answer."""
    from reviewapp.review.corrections.services import output_diff
    from workflows.demo.tickets import LABELS, generate_tickets

    cursor.execute(
        "CREATE TEMP TABLE bench_sample (n int PRIMARY KEY, input jsonb, model_output jsonb,"
        " human_output jsonb, diff jsonb)"
    )
    rows = []
    for n, ticket in enumerate(generate_tickets(SAMPLES, seed=11)):
        model = {"label": LABELS[(LABELS.index(ticket.label) + 1) % len(LABELS)]}
        human = {"label": ticket.label}
        rows.append(
            (
                n,
                *(
                    json.dumps(v)
                    for v in (ticket.as_input(), model, human, output_diff(model, human))
                ),
            )
        )
    cursor.executemany("INSERT INTO bench_sample VALUES (%s, %s, %s, %s, %s)", rows)


def _clone_sql(model, template_pk: int, overrides: dict[str, str]) -> str:
    """INSERT ... SELECT copying the template row once per ``g``, with some columns computed.

    Every name and expression here comes from the models and this file, never from input.
    """
    from django.db import connection

    quote = connection.ops.quote_name
    columns = [field.column for field in model._meta.concrete_fields]
    values = [overrides.get(column, f"tpl.{quote(column)}") for column in columns]
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM {quote(model._meta.db_table)} tpl "
        f"CROSS JOIN generate_series(%(first)s, %(last)s) g "
        f"JOIN bench_sample s ON s.n = g %% {SAMPLES} WHERE tpl.id = {int(template_pk)}"
    )


def corrections_create(demo, *, count: int, numbered_from: int, template) -> None:
    """Add ``count`` corrections (with their items, tasks and decisions) in bulk SQL."""
    from django.db import connection, transaction

    from reviewapp.review.corrections.models import Correction
    from reviewapp.review.reviews.models import Decision, ReviewTask
    from workflows.models import Item

    item, task, decision, correction = template
    models = (Item, ReviewTask, Decision, Correction)
    unique_input = "s.input || jsonb_build_object('body', (s.input->>'body') || ' #' || g)"
    # canonical_hash(input) in SQL: the canonical JSON of a flat object of strings (ticket
    # inputs are) is its members sorted by key code point, compact; PostgreSQL escapes a JSON
    # string as json.dumps(ensure_ascii=False) does.
    input_hash = (
        # Constants of this file only.
        "(SELECT encode(sha256(convert_to('{' || string_agg(to_json(key)::text || ':' || "  # noqa: S608
        "value::text, ',' ORDER BY key COLLATE \"C\") || '}', 'UTF8')), 'hex') "
        f"FROM jsonb_each({unique_input}))"
    )
    chunk = 100_000
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_sample")
        _samples(cursor, demo)
        for start in range(numbered_from, numbered_from + count, chunk):
            last = min(start + chunk, numbered_from + count) - 1
            with transaction.atomic():
                base = {}
                for model in models:
                    table = model._meta.db_table
                    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
                    base[model] = cursor.fetchone()[0] - start + 1  # ids base+g, after max
                ids = {model: f"{base[model]} + g" for model in models}
                statements = [
                    (Item, item.pk, {"id": ids[Item], "input": unique_input}),
                    (ReviewTask, task.pk, {"id": ids[ReviewTask], "item_id": ids[Item]}),
                    (
                        Decision,
                        decision.pk,
                        {
                            "id": ids[Decision],
                            "task_id": ids[ReviewTask],
                            "output": "s.human_output",
                        },
                    ),
                    (
                        Correction,
                        correction.pk,
                        {
                            "id": ids[Correction],
                            "decision_id": ids[Decision],
                            "item_id": ids[Item],
                            "input": unique_input,
                            "input_hash": input_hash,
                            "model_output": "s.model_output",
                            "human_output": "s.human_output",
                            "diff": "s.diff",
                        },
                    ),
                ]
                for model, pk, overrides in statements:
                    cursor.execute(_clone_sql(model, pk, overrides), {"first": start, "last": last})
            print(f"    {last - numbered_from + 1:,} / {count:,}", flush=True)
        for model in models:
            table = model._meta.db_table
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            cursor.execute(f"SELECT setval({sequence}, max(id)) FROM {table}")  # noqa: S608
            cursor.execute(f"ANALYZE {table}")


def export_approve(demo, export_format: str) -> int:
    from django.contrib.auth import get_user_model

    from reviewapp.learn.datasets.services import dataset_export_approve, dataset_export_request

    users = get_user_model().objects
    export = dataset_export_request(
        workflow=demo.workflow, requested_by=users.get(username="mel"), export_format=export_format
    )
    # Approval enqueues a build on the benchmark's broker, where no worker listens; the queue
    # is purged afterwards, so the build timed in the subprocess is the only one.
    dataset_export_approve(export=export, approver=users.get(username="ines"))
    return export.pk


def vm_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None  # the process has ended
    return None


def build_in_subprocess(export_id: int, var_dir: Path) -> dict:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, __file__, "--build", str(export_id)],
            cwd=REPO,
            env=os.environ | {"BENCH_VAR_DIR": str(var_dir)},
            stdout=out,
            stderr=err,
            text=True,
        )
        samples = []  # the build's resident memory while it runs, sampled from outside
        while process.poll() is None:
            if (sample := vm_rss_mb(process.pid)) is not None:
                samples.append(sample)
            time.sleep(0.2)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.exit(f"The export build failed:\n{stdout}\n{stderr}")
    result = json.loads(stdout.strip().splitlines()[-1])
    # ru_maxrss outlives exec (it starts from this process's size at the fork): the samples
    # are the build process's own memory, start-up included.
    return result | {
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "rss_samples": len(samples),
        "rss_sampled_peak_mb": max(samples, default=0.0),
        "rss_sampled_median_mb": sorted(samples)[len(samples) // 2] if samples else 0.0,
    }


def build_one(export_id: int) -> None:
    """In the subprocess: build one approved export, print time and memory as JSON."""
    setup_django(
        os.environ["DATABASE_URL"], Path(os.environ["BENCH_VAR_DIR"]), broker=BROKER, migrate=False
    )
    from django.db import connection

    from reviewapp.learn.datasets.services import dataset_export_build

    connection.ensure_connection()
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    built = dataset_export_build(export_id=export_id)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert built is not None and built.status == "ready", built
    print(
        json.dumps(
            {
                "format": built.format,
                "rows": built.rows_done,
                "elapsed_s": elapsed,
                "cpu_s": cpu,
                "rows_per_s": built.rows_done / elapsed,
                "mb": (built.size_bytes or 0) / 1e6,
                "rss_before_mb": before,
                "rss_peak_mb": rss_mb(),
            }
        )
    )


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
             for row in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([f"\n{title}", *lines])


def main() -> None:
    args = parse_args()
    if args.build is not None:
        build_one(args.build)
        return
    maintenance_url, bench_url = database_urls(BENCH_DB)
    var_dir = Path(tempfile.mkdtemp(prefix="reviewapp-bench-exports-"))
    print(f"database {BENCH_DB} (created fresh), media in {var_dir}", flush=True)
    recreate_database(maintenance_url, BENCH_DB)
    results = []
    store = contextlib.nullcontext()
    if args.object_store:
        sys.path.insert(0, str(REPO))
        from tests.support.s3_server import S3Server

        store = S3Server(var_dir / "moto.log")
    try:
        bucket = None
        if args.object_store:
            server = store.__enter__()
            bucket = server.bucket()
            os.environ.update(server.env(bucket))  # for this process and each build's
            print(f"object store {server.url}, bucket {bucket}", flush=True)
        setup_django(bench_url, var_dir, broker=BROKER)
        from reviewapp.celery import app
        from reviewapp.operations.demo import demo_install

        demo = demo_install(password="bench-password-not-secret")
        template = _template(demo)
        have = 0
        for size in sorted(args.sizes):
            print(f"creating corrections up to {size:,}...", flush=True)
            started = time.perf_counter()
            corrections_create(demo, count=size - have, numbered_from=have + 1, template=template)
            print(f"  {size - have:,} in {time.perf_counter() - started:.1f} s", flush=True)
            have = size
            for export_format in args.formats:
                print(f"  building {export_format} over {size:,}...", flush=True)
                export_id = export_approve(demo, export_format)
                results.append(build_in_subprocess(export_id, var_dir) | {"n": size})
                if bucket is not None:
                    results[-1] |= stored_in_bucket(server, bucket, var_dir)
                shutil.rmtree(var_dir / "media", ignore_errors=True)  # keep the disk small
            app.control.purge()
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(maintenance_url, BENCH_DB, drop_only=True)
        if args.object_store:
            store.__exit__(None, None, None)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(table(
        "dataset_export_build, one fresh process per export (the template correction adds 1 row)",
        ["N", "format", "rows", "seconds", "rows/s", "CPU s", "file MB", "RSS before MB",
         "RSS peak MB"],
        [[f"{r['n']:,}", r["format"], r["rows"], f"{r['elapsed_s']:.2f}",
          f"{r['rows_per_s']:,.0f}", f"{r['cpu_s']:.2f}", f"{r['mb']:.1f}",
          f"{r['rss_before_mb']:.0f}", f"{r['rss_peak_mb']:.0f}"] for r in results],
    ))  # fmt: skip
    print(table(
        "the build process's resident memory, sampled every 0.2 s from outside, and the machine's"
        " 1-minute load average" + (" (object store)" if args.object_store else ""),
        ["N", "format", "samples", "RSS median MB", "RSS peak MB", "load before", "load after",
         "release in bucket MB", "media files"],
        [[f"{r['n']:,}", r["format"], r["rss_samples"], f"{r['rss_sampled_median_mb']:.0f}",
          f"{r['rss_sampled_peak_mb']:.0f}", f"{r['load_before']:.1f}", f"{r['load_after']:.1f}",
          f"{r.get('bucket_mb', 0):.1f}" if "bucket_mb" in r else "-",
          r.get("media_files", "-")] for r in results],
    ))  # fmt: skip


def stored_in_bucket(server, bucket: str, var_dir: Path) -> dict:
    """What the last build left in the bucket, and that it left nothing in the media folder."""
    client = server.client()
    listed = client.list_objects_v2(Bucket=bucket, Prefix="datasets/").get("Contents", [])
    newest = max((entry["Key"].split("/")[2] for entry in listed), key=lambda v: int(v[1:]))
    release = [entry for entry in listed if entry["Key"].split("/")[2] == newest]
    media = var_dir / "media"
    return {
        "bucket_mb": sum(entry["Size"] for entry in release) / 1e6,
        "media_files": sum(1 for path in media.rglob("*") if path.is_file())
        if media.exists()
        else 0,
    }


if __name__ == "__main__":
    main()
