"""Running behind a connection pooler (PgBouncer) in transaction mode.

In transaction mode the pooler lends a server connection for one transaction and then hands it
to someone else, so nothing may outlive a transaction on the server: no prepared statements
(PgBouncer before 1.21), no ``WITH HOLD`` cursors (Django declares one for ``.iterator()``
outside a transaction), no session ``SET``, no session advisory locks, no ``LISTEN``. Our
writes use row locks and transaction-level advisory locks only (audit shards), the beat leader
lease is a row updated in short transactions, and the time zone Django sets on connect is one of
the parameters PgBouncer keeps per client.

What still needs a session is reading a whole dataset in one snapshot: a release is built from
a held cursor (one query, one snapshot, counted without running it twice) while the build
commits its progress. Those reads go to a second alias, ``session``, with a session of its own:
PostgreSQL directly, or a PgBouncer database in session mode.
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

TRANSACTION = "transaction"
POOLERS = ("none", TRANSACTION)
SESSION_ALIAS = "session"


def transaction_pooled(database: dict[str, Any]) -> None:
    """Make ``database`` (a ``DATABASES`` entry) safe where every transaction may run on
    another server connection."""
    # .iterator() outside a transaction would declare a WITH HOLD cursor and fetch from it
    # in later transactions; with this, Django reads the rows with one client-side fetch.
    database["DISABLE_SERVER_SIDE_CURSORS"] = True
    # None: psycopg prepares nothing (0 would prepare every statement).
    database.setdefault("OPTIONS", {})["prepare_threshold"] = None


def session_database(url_settings: Mapping[str, Any], conn_max_age: int) -> dict[str, Any]:
    """The ``session`` alias: the same database over a connection whose session lasts.

    Closed after each request or task (``conn_max_age`` 0 by default) so that it holds a slot of
    a session pool only while a build reads. In tests it is the default database.
    """
    return {
        **url_settings,
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": DEFAULT_DB_ALIAS},
    }


def streaming_alias() -> str:
    """The alias that long, snapshot-consistent reads (dataset rows, audit verification) use:
    ``session`` when configured, else the default connection.

    Inside a transaction on the default connection the rows are read there: they must include
    that transaction's own writes, and the pooler keeps its server connection until it ends.
    """
    if SESSION_ALIAS not in settings.DATABASES or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return SESSION_ALIAS
