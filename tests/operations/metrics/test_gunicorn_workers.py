"""Under gunicorn's worker processes, /metrics sums every worker's requests, dead ones included."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.operations.metrics.conftest import TOKEN, Scrape
from tests.support.redis_server import free_port

BIN = Path(sys.executable).parent


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.django_db(transaction=True)
def test_the_scrape_sums_the_requests_of_every_worker(tmp_path):
    db = connection.settings_dict
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "METRICS_TOKEN": TOKEN,
        "REVIEWAPP_METRICS_KEY_PREFIX": django_settings.REVIEWAPP_METRICS_KEY_PREFIX,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "REVIEWAPP_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    web = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "reviewapp.wsgi",
            "--config=python:reviewapp.gunicorn_config",
            f"--bind=127.0.0.1:{port}",
            "--workers=3",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/healthz")[0] == 200 and len(children_of(web.pid)) == 3:
                    break
            except OSError:
                pass
            assert web.poll() is None and time.monotonic() < deadline, (
                tmp_path / "gunicorn.log"
            ).read_text()
            time.sleep(0.2)
        for _ in range(30):
            assert get(f"{base}/accounts/login/")[0] == 200
        files = list((tmp_path / "prometheus").glob("counter_*.db"))

        before = Scrape(get(f"{base}/metrics", TOKEN)[1])
        # A worker that exits takes nothing with it: its files stay and still count.
        for worker in children_of(web.pid):
            os.kill(worker, signal.SIGTERM)
        time.sleep(2)
        after = Scrape(get(f"{base}/metrics", TOKEN)[1])
    finally:
        web.terminate()
        web.wait(timeout=30)

    login = {"view": "login", "method": "GET", "status": "200"}
    assert before.value("reviewapp_http_requests_total", **login) == 30
    assert after.value("reviewapp_http_requests_total", **login) == 30
    assert len(files) >= 1
    assert before.value("reviewapp_metrics_store_up") == 1
