"""What every benchmark script here needs: a PostgreSQL database of its own on the server
``DATABASE_URL`` points at (created fresh, dropped at the end), and Django set up on it."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]


def database_urls(name: str) -> tuple[str, str]:
    """(maintenance URL, benchmark URL) on the server DATABASE_URL points at."""
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/reviewapp")
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit(f"The benchmark needs PostgreSQL; DATABASE_URL is {parts.scheme}://...")
    return (
        urlunsplit(parts._replace(path="/postgres")),
        urlunsplit(parts._replace(path=f"/{name}")),
    )


def recreate_database(maintenance_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(bench_url: str, var_dir: Path, *, broker: str, migrate: bool = True) -> None:
    """Point Django at the benchmark database and ``broker`` (unless CELERY_BROKER_URL is set)."""
    os.environ["DATABASE_URL"] = bench_url
    os.environ["REVIEWAPP_VAR_DIR"] = str(var_dir)
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    os.environ.setdefault("CELERY_BROKER_URL", broker)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "reviewapp.settings"
    if not os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        sys.exit("The benchmark needs Redis: set CELERY_BROKER_URL=redis://...")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
