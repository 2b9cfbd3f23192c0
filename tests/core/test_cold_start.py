"""A fresh web or Celery process starts without the heavy data libraries.

scikit-learn, SciPy, pandas, pyarrow, skops, numpy and the Label Studio SDK cost every process
that imports them seconds of CPU and hundreds of megabytes, and a new gunicorn worker pays that
before its first answer. Only the code that trains, predicts, writes or reads Parquet, or talks
to Label Studio may import them, inside the function that needs them. Each check runs in a new
interpreter, because this test process has long since imported them all. When one fails,
``python -X importtime -c "import django; django.setup(); import reviewapp.urls"`` shows who
imports the package.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy", "pandas", "pyarrow", "skops", "label_studio_sdk", "numpy")
TIMEOUT = 120

# Each script prints, as JSON on its last line, the heavy packages present in sys.modules.
REPORT_HEAVY = f"""
import json, sys
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}} & set({HEAVY!r}))))
"""

LOAD_WEB = """
import django

django.setup()
import reviewapp.urls
import reviewapp.wsgi
"""

# What a worker or beat process imports before it runs its first task.
LOAD_CELERY = """
from reviewapp.celery import app

app.loader.import_default_modules()
app.finalize()
assert "workflows.retrain" in app.tasks, sorted(app.tasks)
"""


def run_fresh(code: str, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a new interpreter with this test's settings; return its last line."""
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=PROJECT_DIR,
        # pytest-django has set DJANGO_SETTINGS_MODULE in this environment.
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_url_configuration_and_wsgi_application_load_without_heavy_libraries():
    assert json.loads(run_fresh(LOAD_WEB + REPORT_HEAVY)) == []


def test_the_celery_app_and_its_task_modules_load_without_heavy_libraries():
    assert json.loads(run_fresh(LOAD_CELERY + REPORT_HEAVY)) == []


def database_url() -> str:
    """The URL of pytest-django's test database, for the fresh interpreter."""
    db = connection.settings_dict
    assert db["NAME"].startswith("test_"), "a fresh process must never touch a non-test database"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = (f"{credentials}@" if credentials else "") + (db["HOST"] or "localhost")
    if db["PORT"]:
        host += f":{db['PORT']}"
    return f"postgres://{host}/{quote(db['NAME'], safe='')}"


# Requests the fresh process makes, in order, each as (username or None, method, path).
# After each it records its status, the path it ended on and any heavy package that appeared.
BROWSE = """
import json, sys
import django

django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
HEAVY = {heavy!r}
results = []
for username, method, path in json.loads(sys.argv[1]):
    client = Client()
    if username:
        client.force_login(get_user_model().objects.get(username=username))
    response = getattr(client, method)(path, follow=True)
    loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set(HEAVY))
    results.append([path, response.status_code, response.request["PATH_INFO"], loaded])
print(json.dumps(results))
"""


@pytest.mark.django_db(transaction=True)
def test_pages_that_need_no_model_or_parquet_answer_without_heavy_libraries(demo, routed_items):
    # The fresh process reads what this test committed: demo users, a queue with open tasks.
    assert routed_items(count=20), "the demo tickets must send some items to a reviewer"
    queue, slug = demo.queue.pk, demo.workflow.slug
    requests = [
        (None, "get", "/accounts/login/"),
        ("alice", "get", "/queues/"),
        ("alice", "post", f"/queues/{queue}/next"),  # claims a task, follows to its review page
        ("alice", "get", "/api/v1/queues/"),
        ("maria", "get", "/board/"),
        ("maria", "get", f"/board/queues/{queue}/"),
        ("maria", "get", f"/board/queues/{queue}/settings/"),
        ("maria", "get", "/board/reviewers/"),
        ("maria", "get", "/dead-letters/"),
        ("maria", "get", "/audit/"),
        ("mel", "get", "/datasets/"),
        ("mel", "get", "/api/v1/exports/"),
        ("mel", "get", f"/workflows/{slug}/simulate"),
        ("mel", "get", f"/workflows/{slug}/canary"),
        ("admin", "get", "/admin/"),
        ("admin", "get", "/api/schema/"),
    ]

    answers = json.loads(
        run_fresh(
            BROWSE.format(heavy=HEAVY),
            json.dumps(requests),
            env={"DATABASE_URL": database_url()},
        )
    )

    assert [(path, status) for path, status, _, _ in answers] == [
        (path, 200) for _, _, path in requests
    ]
    assert answers[2][2].startswith("/review/"), "the claim must open a task's review page"
    assert [(path, loaded) for path, _, _, loaded in answers if loaded] == []
