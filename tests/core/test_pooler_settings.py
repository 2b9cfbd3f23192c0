"""``DATABASE_POOLER`` and ``DATABASE_SESSION_URL``: the options for PgBouncer in transaction
mode come together, and a setting that cannot work stops the process at start-up."""

import importlib

import pytest
from django.core.exceptions import ImproperlyConfigured

POOLED = "postgres://app@pgbouncer:6432/reviewapp"
SESSION = "postgres://app@pgbouncer:6432/reviewapp_session"


@pytest.fixture
def settings_under(monkeypatch):
    """Reads reviewapp.settings again under the given variables (and as it was afterwards)."""
    import reviewapp.settings as project_settings

    for name in ("DATABASE_POOLER", "DATABASE_SESSION_URL", "DATABASE_PREPARED_STATEMENTS"):
        monkeypatch.delenv(name, raising=False)

    def read(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return importlib.reload(project_settings)

    yield read
    monkeypatch.undo()
    importlib.reload(project_settings)


def test_transaction_pooling_turns_off_what_needs_a_session(settings_under):
    pooled = settings_under(
        DATABASE_URL=POOLED, DATABASE_POOLER="transaction", DATABASE_SESSION_URL=SESSION
    )

    default, session = pooled.DATABASES["default"], pooled.DATABASES["session"]
    assert pooled.REVIEWAPP_PREPARED_STATEMENTS is False
    assert default["OPTIONS"]["prepare_threshold"] is None
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert (session["NAME"], session["PORT"]) == ("reviewapp_session", 6432)
    assert session["CONN_MAX_AGE"] == 0
    assert not session.get("DISABLE_SERVER_SIDE_CURSORS")
    assert session["TEST"] == {"MIRROR": "default"}  # tests use the one test database


def test_prepared_statements_may_be_turned_back_on_for_a_pooler_that_follows_them(settings_under):
    pooled = settings_under(
        DATABASE_URL=POOLED,
        DATABASE_POOLER="transaction",
        DATABASE_SESSION_URL=SESSION,
        DATABASE_PREPARED_STATEMENTS="true",
    )

    assert pooled.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == 0


def test_without_a_pooler_nothing_changes(settings_under):
    direct = settings_under(DATABASE_URL=POOLED)

    assert direct.DATABASE_POOLER == "none"
    assert "session" not in direct.DATABASES
    assert not direct.DATABASES["default"].get("DISABLE_SERVER_SIDE_CURSORS")
    assert direct.DATABASES["default"]["OPTIONS"]["prepare_threshold"] == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_POOLER": "pgbouncer"}, "DATABASE_POOLER must be one of none, transaction"),
        ({"DATABASE_POOLER": "transaction"}, "needs DATABASE_SESSION_URL"),
        (
            {"DATABASE_URL": "sqlite:////tmp/x.sqlite3", "DATABASE_POOLER": "transaction"},
            "needs a PostgreSQL DATABASE_URL",
        ),
        ({"DATABASE_SESSION_URL": "mysql://u@h/d"}, "must be a postgres:// URL"),
    ],
)
def test_a_setting_that_cannot_work_stops_the_start(settings_under, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        settings_under(**({"DATABASE_URL": POOLED} | env))
