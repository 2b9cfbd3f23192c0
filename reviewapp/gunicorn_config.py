"""gunicorn settings for the web tier: ``gunicorn -c python:reviewapp.gunicorn_config ...``.

Prometheus in gunicorn's multi-process mode: every worker writes its request metrics to files
in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums them. The directory must be set before
prometheus-client is first imported (it picks its storage at import time), emptied when the
server starts (files of an earlier run would add to today's counts) and told when a worker
exits (its live gauges must go). prometheus-client is imported only inside the hooks, so the
master process never loads it before the directory is set.

Traces (``reviewapp.core.tracing``, when the OTEL_* environment asks for them) start in each
worker after the fork (the span processor's thread and the exporter's connections do not
survive one), and the worker sends what it still holds when it exits.
"""

import os
import tempfile
from pathlib import Path

# Threads let one request's CPU work run while another waits on PostgreSQL (most of a review's
# time), and a burst of sign-ins spread over every worker's threads instead of queueing behind
# three processes. Flags on the command line (``--workers``, ``--threads``) still win.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="reviewapp-prometheus-")


def on_starting(server) -> None:
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    # Only prometheus-client's own files: the directory may be one the operator shares.
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker) -> None:
    from reviewapp.core.tracing import tracing_configure

    tracing_configure(role="web")


def worker_exit(server, worker) -> None:
    from reviewapp.core.tracing import tracing_flush

    tracing_flush()
