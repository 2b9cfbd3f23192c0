"""The application's database role cannot change the audit trail, and what the owner can still
do to it (truncate it, cut its tail) is caught by the chain heads kept outside the database.

Runs on a PostgreSQL cluster of the test's own: creating roles changes the whole server.
"""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.postgres_server import PrivatePostgres
from tests.support.redis_server import BROKER_ENV, free_port

PROJECT_DIR = Path(__file__).resolve().parents[3]
OWNER, APP = "reviewapp_owner", "reviewapp_app"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    postgres = PrivatePostgres(port=free_port())
    try:
        postgres.createdb("reviewapp")
        # The script compose runs on a new volume creates the roles.
        subprocess.run(
            ["bash", str(PROJECT_DIR / "deploy" / "postgres" / "roles.sh")],
            env=os.environ
            | {
                "PGHOST": "127.0.0.1",
                "PGPORT": str(postgres.port),
                "POSTGRES_USER": "postgres",
                "POSTGRES_DB": "reviewapp",
                "DATABASE_OWNER_PASSWORD": "owner-secret",
                "DATABASE_APP_PASSWORD": "app-secret",
            },
            check=True,
            capture_output=True,
        )
        yield postgres
    finally:
        postgres.close(keep=False)


def url(cluster: PrivatePostgres, role: str) -> str:
    return f"postgres://{role}@127.0.0.1:{cluster.port}/reviewapp"


def manage(cluster, role: str, *args: str, var_dir: Path, check: bool = True):
    env = {key: value for key, value in os.environ.items() if key not in BROKER_ENV} | {
        "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
        "DATABASE_URL": url(cluster, role),
        "DATABASE_APP_ROLE": APP,
        "CELERY_BROKER_URL": "memory://",
        "REVIEWAPP_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "ERROR",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def refused(cluster, role: str, statement: str) -> str:
    with (
        psycopg.connect(url(cluster, role), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as error,
    ):
        conn.execute(statement)
    return str(error.value)


def count_events(cluster) -> int:
    with psycopg.connect(url(cluster, OWNER)) as conn:
        return conn.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]


def test_the_app_role_appends_to_the_audit_trail_and_cannot_change_it(cluster, tmp_path):
    manage(cluster, OWNER, "migrate", "--noinput", var_dir=tmp_path)
    # The application's work, as the application's role: the demo writes audit events.
    manage(cluster, APP, "load_demo", "--items", "5", var_dir=tmp_path)
    events = count_events(cluster)
    assert events > 0

    for statement in (
        "TRUNCATE audit_auditevent",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditevent SET action = 'nothing'",
    ):
        assert "permission denied" in refused(cluster, APP, statement)
    assert "must be owner" in refused(
        cluster, APP, "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only"
    )
    # Everything else the application writes, it may write.
    with psycopg.connect(url(cluster, APP), autocommit=True) as conn:
        conn.execute("UPDATE accounts_team SET name = name")
    assert count_events(cluster) == events
    verified = manage(cluster, APP, "verify_audit", var_dir=tmp_path)
    assert f"intact: {events} events" in verified.stdout


def test_heads_kept_outside_catch_a_cut_tail_and_a_truncated_table(cluster, tmp_path):
    manage(cluster, OWNER, "migrate", "--noinput", var_dir=tmp_path)
    manage(cluster, APP, "load_demo", "--items", "3", var_dir=tmp_path)
    heads = tmp_path / "heads.json"
    manage(cluster, APP, "audit_heads", "--output", str(heads), var_dir=tmp_path)
    assert (
        "intact"
        in manage(cluster, APP, "verify_audit", "--heads", str(heads), var_dir=tmp_path).stdout
    )

    # The owner cuts the newest event of a shard, with the append-only trigger switched off.
    with psycopg.connect(url(cluster, OWNER), autocommit=True) as owner:
        owner.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        owner.execute(
            "DELETE FROM audit_auditevent WHERE id = (SELECT max(id) FROM audit_auditevent)"
        )
        owner.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    assert "intact" in manage(cluster, APP, "verify_audit", var_dir=tmp_path).stdout, (
        "without the heads, a cut tail still verifies"
    )
    cut = manage(cluster, APP, "verify_audit", "--heads", str(heads), var_dir=tmp_path, check=False)
    assert cut.returncode == 1
    assert "truncated or rewritten: 1 recorded head(s)" in cut.stderr
    assert "is gone" in cut.stderr

    with psycopg.connect(url(cluster, OWNER), autocommit=True) as owner:
        owner.execute("TRUNCATE audit_auditevent")
    assert "intact: 0 events" in manage(cluster, APP, "verify_audit", var_dir=tmp_path).stdout
    truncated = manage(
        cluster, APP, "verify_audit", "--heads", str(heads), var_dir=tmp_path, check=False
    )
    assert truncated.returncode == 1
    assert "recorded head(s) are not in the chains" in truncated.stderr

    # A heads file that was edited is refused, not trusted.
    heads.write_text(heads.read_text().replace('"seq": ', '"seq": 1', 1))
    forged = manage(
        cluster, APP, "verify_audit", "--heads", str(heads), var_dir=tmp_path, check=False
    )
    assert forged.returncode == 1
    assert "signature does not match" in forged.stderr
