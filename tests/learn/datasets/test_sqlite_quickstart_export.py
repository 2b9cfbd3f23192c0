"""Dataset exports on the embedded quick start (SQLite), byte for byte as on PostgreSQL.

The suite runs on PostgreSQL, so the quick start's database is exercised in subprocesses:
``sqlite_export_script`` migrates a fresh database, installs the demo, corrects tickets at fixed
instants, previews, requests, approves and builds every format through the real services, and
renders the datasets pages. The same script on a fresh PostgreSQL database must print the same
rows, counts and file checksums.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

ROOT = Path(__file__).resolve().parents[3]


def _start(tmp_path: Path, name: str, database_url: str) -> subprocess.Popen:
    env = os.environ | {
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
        # No worker: the script calls the services itself; what they enqueue stays in memory.
        "CELERY_BROKER_URL": "memory://",
        "REVIEWAPP_VAR_DIR": str(tmp_path / name / "var"),
        "MEDIA_ROOT": str(tmp_path / name / "media"),
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.learn.datasets.sqlite_export_script"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _summary(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-5000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def fresh_postgresql(django_db_setup):
    """An empty PostgreSQL database next to the test database, dropped afterwards."""
    params = connection.settings_dict
    name = f"{params['NAME']}_sqlite_cmp"
    server = {
        "host": params["HOST"] or None,
        "port": params["PORT"] or None,
        "user": params["USER"] or None,
        "password": params["PASSWORD"] or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(**server) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    user = params["USER"] or ""
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    host = params["HOST"] or "127.0.0.1"
    port = params["PORT"] or 5432
    yield f"postgres://{user}{password}@{host}:{port}/{name}"
    with psycopg.connect(**server) as admin:
        admin.execute(drop)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fresh_postgresql):
    """The script's summaries on SQLite and on PostgreSQL (run side by side), once for all
    the tests here."""
    tmp_path = tmp_path_factory.mktemp("quickstart")
    on_sqlite = _start(tmp_path, "sqlite", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    on_postgresql = _start(tmp_path, "postgresql", fresh_postgresql)
    return {"sqlite": _summary(on_sqlite), "postgresql": _summary(on_postgresql)}


def test_exports_on_sqlite_are_the_same_bytes_as_on_postgresql(runs):
    sqlite, postgresql = runs["sqlite"], runs["postgresql"]

    assert (sqlite["vendor"], postgresql["vendor"]) == ("sqlite", "postgresql")
    assert set(sqlite["exports"]) == {"jsonl", "csv", "parquet", "label_studio", "hf_dataset"}
    for export_format, built in sqlite["exports"].items():
        assert built["status"] == "ready", export_format
        assert built["rows"] == built["manifest_rows"] == 4, export_format
        assert built["sha256"] == built["sha256_recorded"], export_format
    # Every file (data, manifest, data card, the Hugging Face zip), counts and previews.
    assert sqlite["exports"] == postgresql["exports"]
    assert sqlite["previews"] == postgresql["previews"]
    assert sqlite["corrections"] == postgresql["corrections"]


def test_sqlite_rows_are_the_reference_rows_deduplicated_with_iso_times(runs):
    sqlite = runs["sqlite"]
    jsonl = sqlite["exports"]["jsonl"]
    rows = [json.loads(line) for line in jsonl["text"].splitlines()]
    corrected = sqlite["corrections"]

    # Built from the plain definition (isoformat, protect_input, split_for) in the script.
    assert jsonl["matches_reference"] is True
    # The second correction's input is the third's with its keys reordered: the later wins.
    assert [row["item_id"] for row in rows] == [corrected[i]["item_id"] for i in (0, 2, 3, 4)]
    assert [row["corrected_at"] for row in rows] == [
        "2026-11-24T10:00:00+00:00",
        "2026-11-24T10:00:01.250000+00:00",
        "2026-11-24T10:05:07.123456+00:00",
        "2026-11-24T11:00:00.999999+00:00",
    ]
    assert {row["input"]["subject"] for row in rows} == {"[redacted]"}
    assert all(row["input"]["customer_tier"].startswith("pseud-") for row in rows)
    assert rows[2]["comment"] == 'Ünïcode, "quotes" and a\nnewline'


def test_sqlite_reason_and_date_filters_match_postgresql(runs):
    previews = runs["sqlite"]["previews"]

    assert previews["all"]["rows"] == 4
    assert previews["wrong-category"]["rows"] == 2
    assert previews["wrong-category"]["by_reason"] == {"wrong-category": 2}
    assert previews["wrong-category-or-mixed"]["rows"] == 3
    assert previews["rejected"]["rows"] == 1
    assert previews["after-10:00:01"]["rows"] == 3
    assert previews == runs["postgresql"]["previews"]


def test_datasets_pages_render_and_download_on_sqlite(runs):
    pages = runs["sqlite"]["pages"]

    assert {name: page["status"] for name, page in pages.items()} == {
        "list": 200,
        "preview": 200,
        "preview_htmx": 200,
        "download": 200,
    }
    assert "v5" in pages["list"]["html"]
    assert 'data-testid="preview-rows">4 rows<' in pages["preview"]["html"]
    assert 'data-testid="preview-rows">2 rows<' in pages["preview_htmx"]["html"]
    assert "<html" not in pages["preview_htmx"]["html"]  # the fragment only
    assert "[redacted]" in pages["preview"]["html"]
    assert pages["download"]["sha256"] == runs["sqlite"]["exports"]["hf_dataset"]["sha256"]


def test_the_preview_api_works_on_sqlite(runs):
    api = runs["sqlite"]["api"]

    assert api["reasons"]["status"] == 200
    assert api["reasons"]["json"]["rows"] == 1
    assert api["reasons"]["json"]["by_reason"] == {"mixed-topics": 1}
    assert api["bad"]["status"] == 400
    assert "filters.x" in api["bad"]["json"]["errors"]
    assert api == runs["postgresql"]["api"]
