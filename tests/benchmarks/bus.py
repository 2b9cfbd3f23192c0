"""Bus ingest -> routed, against HTTP bulk ingest -> routed, in the same run.

    make bench-bus                               # or:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... python tests/benchmarks/bus.py

Each path sends ``--items`` demo tickets, and is timed from the first send until every item is
routed (completed or awaiting review) by a real Celery worker subprocess (2 processes):
(h) HTTP: ``POST /api/v1/workflows/<slug>/items`` with batches of ``--batch`` items, to
    gunicorn (2 sync workers) on loopback, with the integrator's token;
(a) AMQP: messages published to a queue of its own on the machine's RabbitMQ, taken by
    ``manage.py consume`` (a subprocess, started and ready before the clock starts) in
    transactions of ``--batch`` messages;
(n) NATS: the same through a JetStream stream of its own.
The load average is printed before and after each path (the machine is shared). It creates its
own database (``reviewapp_bench_bus``), queue and stream, and removes them at the end. Not a
test: pytest collects ``test_*.py`` only.
"""

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchdb import database_urls, recreate_database, setup_django
from run import Worker

REPO = Path(__file__).resolve().parents[2]
BENCH_DB = "reviewapp_bench_bus"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items per path")
    parser.add_argument("--batch", type=int, default=200, help="items per request / transaction")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait per path")
    parser.add_argument("--keep-db", action="store_true", help="leave the database behind")
    return parser.parse_args()


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spawn(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv, cwd=REPO, env=os.environ.copy(), stdin=subprocess.DEVNULL,
        stdout=log.open("w"), stderr=subprocess.STDOUT, process_group=0,
    )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tickets(count: int, seed: int) -> list[dict]:
    from workflows.demo.tickets import generate_tickets

    return [ticket.as_input() for ticket in generate_tickets(count, seed=seed)]


def wait_routed(prefix: str, count: int, started: float, timeout: float) -> tuple[float, float]:
    """Seconds from ``started`` until all ``count`` items with keys under ``prefix`` are stored,
    and until all are routed."""
    from workflows.models import Item

    items = Item.objects.filter(idempotency_key__startswith=prefix)
    stored_at = None
    while True:
        now = time.perf_counter()
        if stored_at is None and items.count() >= count:
            stored_at = now
        if items.filter(status__in=("completed", "awaiting_review", "dead_lettered")).count() >= (
            count
        ):
            return (stored_at or now) - started, now - started
        if now - started > timeout:
            sys.exit(f"timed out after {timeout:.0f} s with {items.count()} of {count} stored")
        time.sleep(0.05)


def bench_http(demo, *, items: int, batch: int, timeout: float, var_dir: Path) -> dict:
    import httpx

    port = free_port()
    web = spawn(
        [sys.executable, "-m", "gunicorn", "reviewapp.wsgi", f"--bind=127.0.0.1:{port}",
         "--workers=2", "--log-level=warning"],
        var_dir / "gunicorn.log",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/v1/workflows/{demo.workflow.slug}/items"
    headers = {"Authorization": f"Token {demo.api_token}"}
    try:
        with httpx.Client(timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        sys.exit("gunicorn never answered")
                    time.sleep(0.1)
            inputs = tickets(items, seed=11)
            run = uuid.uuid4().hex[:8]
            started = time.perf_counter()
            for start in range(0, items, batch):
                response = client.post(
                    url,
                    headers=headers | {"Idempotency-Key": f"http-{run}-{start}"},
                    json={"items": [{"input": i} for i in inputs[start : start + batch]]},
                )
                response.raise_for_status()
            sent = time.perf_counter() - started
            stored, routed = wait_routed(f"http-{run}-", items, started, timeout)
    finally:
        stop(web)
    return {"path": "HTTP bulk", "sent_s": sent, "stored_s": stored, "routed_s": routed}


def consumer(argv: list[str], log: Path) -> subprocess.Popen:
    return spawn([sys.executable, "manage.py", "consume", "--as-user", "api-client", *argv], log)


def bench_amqp(demo, *, items: int, batch: int, timeout: float, var_dir: Path) -> dict:
    from kombu import Connection, Producer

    queue = f"bench-items-{uuid.uuid4().hex[:8]}"
    process = consumer(
        ["--source", AMQP_URL, "--queue", queue, "--workflow", demo.workflow.slug,
         "--batch", str(batch)],
        var_dir / "consume-amqp.log",
    )  # fmt: skip
    with Connection(AMQP_URL) as connection:
        channel = connection.channel()
        try:
            deadline = time.monotonic() + 60
            while True:  # ready: the queue exists and the consumer is on it
                try:
                    _, _, consumers = channel.queue_declare(queue=queue, passive=True)
                except Exception:
                    channel = connection.channel()
                    consumers = 0
                if consumers:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the AMQP consumer did not start; see {var_dir}/consume-amqp.log")
                time.sleep(0.1)
            producer = Producer(channel)
            bodies = tickets(items, seed=12)
            started = time.perf_counter()
            for index, body in enumerate(bodies):
                producer.publish(
                    {"input": body}, routing_key=queue, serializer="json",
                    message_id=f"m-{index}", delivery_mode=2,
                )  # fmt: skip
            sent = time.perf_counter() - started
            stored, routed = wait_routed(f"amqp:{queue}:", items, started, timeout)
        finally:
            stop(process)
            channel.queue_delete(queue=queue)
            channel.queue_delete(queue=f"{queue}.dead")
            channel.exchange_delete(exchange=f"{queue}.dead")
    return {"path": "AMQP", "sent_s": sent, "stored_s": stored, "routed_s": routed}


def bench_nats(demo, *, items: int, batch: int, timeout: float, var_dir: Path) -> dict:
    import json

    import nats

    from reviewapp.core.bus import LoopThread

    stream = f"BENCH_ITEMS_{uuid.uuid4().hex[:8]}"
    subject = f"bench.{stream.lower()}"
    loop = LoopThread("bench-nats")
    client = loop.run(nats.connect(NATS_URL), 10)
    js = client.jetstream()
    loop.run(js.add_stream(name=stream, subjects=[subject]), 10)
    process = consumer(
        ["--source", NATS_URL, "--stream", stream, "--subject", subject,
         "--workflow", demo.workflow.slug, "--batch", str(batch)],
        var_dir / "consume-nats.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                loop.run(js.consumer_info(stream, "reviewapp-ingest"), 10)
                break
            except nats.js.errors.NotFoundError:
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the NATS consumer did not start; see {var_dir}/consume-nats.log")
                time.sleep(0.1)
        bodies = [json.dumps({"input": body}).encode() for body in tickets(items, seed=13)]

        async def publish_all():
            for index, body in enumerate(bodies):
                await js.publish(subject, body, headers={"Nats-Msg-Id": f"m-{index}"})

        started = time.perf_counter()
        loop.run(publish_all(), timeout)
        sent = time.perf_counter() - started
        stored, routed = wait_routed(f"nats:{stream}:", items, started, timeout)
    finally:
        stop(process)
        for name in (stream, f"{stream}_DEAD"):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                loop.run(js.delete_stream(name), 10)
        loop.run(client.close(), 10)
        loop.stop()
    return {"path": "NATS JetStream", "sent_s": sent, "stored_s": stored, "routed_s": routed}


def main() -> None:
    args = parse_args()
    maintenance_url, bench_url = database_urls(BENCH_DB)
    var_dir = Path(tempfile.mkdtemp(prefix="reviewapp-bench-bus-"))
    print(f"database {BENCH_DB} (created fresh), logs in {var_dir}", flush=True)
    recreate_database(maintenance_url, BENCH_DB)
    worker = None
    results = []
    try:
        setup_django(bench_url, var_dir, broker="redis://127.0.0.1:6379/11")
        from django.db import connection

        from reviewapp.celery import app
        from reviewapp.operations.demo import demo_install

        app.control.purge()
        demo = demo_install(password="bench-password-not-secret")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # this machine's PostgreSQL runs no autovacuum
        worker = Worker(var_dir / "worker.log")
        worker.wait_ready()
        for bench in (bench_http, bench_amqp, bench_nats):
            print(f"{bench.__name__}: {args.items} items; before: {load()}", flush=True)
            result = bench(
                demo, items=args.items, batch=args.batch, timeout=args.timeout, var_dir=var_dir
            )
            result["load"] = load()
            print(f"  after: {result['load']}", flush=True)
            results.append(result)
    finally:
        if worker is not None:
            worker.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(maintenance_url, BENCH_DB, drop_only=True)
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"\nitems per path: {args.items}, batch {args.batch}; {os.cpu_count()} cores")
    print(
        f"{'path':<16}{'sent s':>8}{'stored s':>10}{'routed s':>10}{'stored/s':>10}"
        f"{'routed/s':>10}  load after"
    )
    for r in results:
        print(
            f"{r['path']:<16}{r['sent_s']:>8.2f}{r['stored_s']:>10.2f}{r['routed_s']:>10.2f}"
            f"{args.items / r['stored_s']:>10.0f}{args.items / r['routed_s']:>10.0f}  {r['load']}"
        )
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
