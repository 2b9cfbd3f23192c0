# One command per job. Variables already set in the environment (or on the command line:
# `make test DATABASE_URL=...`) win over the defaults below.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-installs whenever pyproject.toml is newer than the last install.
STAMP := $(VENV)/.installed-stamp

# Defaults for the suite and the benchmark: the local PostgreSQL and Redis (see .ci/prepare).
# The benchmark uses its own Redis db so a concurrent test run cannot steal its messages; it
# creates and drops its own database on the same server.
TEST_DATABASE_URL := postgres://postgres@127.0.0.1:5432/reviewapp
TEST_BROKER_URL := redis://127.0.0.1:6379/15
BENCH_BROKER_URL := redis://127.0.0.1:6379/14
BENCH_QUEUES_BROKER_URL := redis://127.0.0.1:6379/13
BENCH_EXPORTS_BROKER_URL := redis://127.0.0.1:6379/12
BENCH_APPROVALS_BROKER_URL := redis://127.0.0.1:6379/11
BENCH_METRICS_BROKER_URL := redis://127.0.0.1:6379/10
BENCH_BUS_BROKER_URL := redis://127.0.0.1:6379/9
BENCH_HTTP_BROKER_URL := redis://127.0.0.1:6379/8

# Production-shaped settings for `check --deploy`; the key is only good for the check.
DEPLOY_CHECK_ENV := DEBUG=false ALLOWED_HOSTS=example.com \
	SECRET_KEY=deploy-check-only-7f3c9a1e5b8d2f4a6c0e9b7d5f3a1c8e6b4d2f0a9c7e5b3d1f

PYTEST_ARGS ?=
# Test processes for `make test` (pytest-xdist): many tests wait on real processes (Celery
# workers, gunicorn, Chromium, Label Studio), so three keep two cores busy. 0 runs in this
# process only (pytest's own -x and --pdb behave as without xdist).
PYTEST_WORKERS ?= 0
BENCH_ARGS ?=

.PHONY: install run test test-pgbouncer bench bench-queues bench-exports bench-approvals bench-metrics bench-overhead bench-bus bench-http bench-recovery lint lock runtime-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The embedded quick start: SQLite file + Celery on kombu's filesystem transport, no servers.
# DATABASE_URL and CELERY_BROKER_URL are cleared so a shell set up for the tests still gets it.
run: install
	env -u DATABASE_URL -u CELERY_BROKER_URL $(BIN)/python manage.py quickstart

# The Label Studio push test talks to a real Label Studio server, started by .ci/label-studio.
test: install
	.ci/prepare
	eval "$$(.ci/label-studio)"; \
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The claim, decision, dataset and audit tests again, every connection through a private
# PgBouncer in transaction mode (README: Deploy behind PgBouncer).
PGBOUNCER_TESTS := tests/review/reviews tests/learn/datasets tests/core/audit
test-pgbouncer: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}" \
	$(BIN)/python -m pytest --through-pgbouncer $(PGBOUNCER_TESTS) $(PYTEST_ARGS)

bench: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/run.py $(BENCH_ARGS)

# Reviewer queues with 1,000,000 open tasks (its own database reviewapp_bench_queues).
bench-queues: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_QUEUES_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/queues.py $(BENCH_ARGS)

# Dataset exports of 100,000 and 1,000,000 corrections in every format (its own database
# reviewapp_bench_exports): rows/s and peak memory per export. BENCH_ARGS="--object-store" builds
# into a bucket of a local S3-compatible server (moto_server) and samples the build's memory.
bench-exports: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_EXPORTS_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/exports.py $(BENCH_ARGS)

# Approvals: decision-to-agent latency through the long poll, with gunicorn and a real worker
# (its own database reviewapp_bench_approvals).
bench-approvals: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_APPROVALS_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/approvals.py $(BENCH_ARGS)
# A Prometheus scrape of /metrics at 1,000,000 open review tasks (its own database
# reviewapp_bench_metrics): scrape p50/p95 against the 100 ms target, the recount's time, the
# load average; then what metrics and traces cost (bench-overhead).
bench-metrics: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_METRICS_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/metrics.py $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-overhead BENCH_ARGS=
# Ingest-to-routed and claim + decide with metrics and traces off, metrics on, both on, in
# turns in one run (its own database reviewapp_bench_overhead): overhead per operation in wall
# and CPU time against the 5 % target, with the load average.
bench-overhead: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_METRICS_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/overhead.py $(BENCH_ARGS)
# Items from the machine's RabbitMQ and NATS JetStream (manage.py consume) to routed, against
# HTTP bulk ingest through gunicorn in the same run (its own database reviewapp_bench_bus).
bench-bus: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_BUS_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/bus.py $(BENCH_ARGS)
# Reviews over HTTP on a production-shaped stack (gunicorn as the Dockerfile runs it, a Celery
# worker and beat; its own database reviewapp_bench_http), beside the in-process figure of the
# same run; the last line sums it up (bench-http: api_ratio=... browser_ratio=...).
bench-http: install
	.ci/prepare
	DATABASE_URL="$${DATABASE_URL:-$(TEST_DATABASE_URL)}" \
	CELERY_BROKER_URL="$${CELERY_BROKER_URL:-$(BENCH_HTTP_BROKER_URL)}" \
	$(BIN)/python tests/benchmarks/over_http.py $(BENCH_ARGS)

# Fault drills on a stack of its own (PostgreSQL 15 cluster, redis-server, gunicorn, a Celery
# worker and beat, all private, on free ports): whole-worker kill -9, a Redis outage and
# PostgreSQL restarts. It ignores DATABASE_URL and CELERY_BROKER_URL: it never touches the
# machine's servers. Needs Debian's postgresql (15) and redis-server, installed if missing.
bench-recovery: install
	test -x /usr/lib/postgresql/15/bin/initdb && command -v redis-server >/dev/null || \
		{ [ "$$(id -u)" = 0 ] || { echo "install postgresql-15 and redis-server first"; exit 1; }; \
		  apt-get update -qq && \
		  apt-get install -y -qq --no-install-recommends postgresql-15 redis-server; }
	$(BIN)/python tests/benchmarks/recovery.py $(BENCH_ARGS)

# lint-imports checks the import rules of ARCHITECTURE.md (layers in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy reviewapp workflows
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(DEPLOY_CHECK_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING

# The versions a deployment installs (the Dockerfile, .ci/runtime-imports), with hashes. Run it
# after changing the dependencies in pyproject.toml, and commit requirements.lock.
lock: install
	$(BIN)/pip-compile --quiet --strip-extras --extra labelstudio --extra mcp --generate-hashes \
		--no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
		-o requirements.lock pyproject.toml

# Only the runtime dependencies, from the lock, in a clean venv: every module and every package
# the code imports must load.
runtime-check:
	.ci/runtime-imports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
