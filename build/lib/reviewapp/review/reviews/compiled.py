"""The reviewers' hot path runs querysets compiled to SQL once per thread.

Building and compiling a queryset costs more CPU than PostgreSQL spends running it (most of a
claim + accept was the ORM turning querysets into SQL and rows into objects; the figures are in
the README's benchmark notes). Claims and decisions run the same few queries all day with
different ids, so each shape is compiled once, with marker values where a
call's values go, and every call runs that SQL with its own values. The rules stay written once,
as querysets, and the SQL is the ORM's own for whatever database the connection is.

On PostgreSQL the statements are also prepared (parsed and planned once per connection):
planning the claim's walk down the claim index cost as much as running it. The
constants of the rules (statuses, languages) are written into the prepared SQL and only the
call's values stay parameters, so a generic plan can still use the partial indexes whose
conditions name those constants.
"""

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.backends.utils import CursorWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from psycopg.postgres import types as postgres_types
from psycopg.pq import Format

_compiled = threading.local()
TIMESTAMPTZ = postgres_types["timestamptz"].oid

# Values no real query holds: a compiled parameter equal to one is where a call's value goes.
# Ids are negative (a primary key never is) and far apart; the time is before any data.
MARKER_IDS = [-987_654_300 - index for index in range(8)]
MARKER_TIME = datetime(1901, 2, 3, 4, 5, 6, 789, tzinfo=UTC)


def _adapt_time(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


class _PreparingCursor(psycopg.Cursor):
    """A server-binding psycopg cursor that prepares every statement it runs."""

    def execute(
        self,
        query: Any,
        params: Any = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> Any:
        result = super().execute(query, params, prepare=True, binary=binary)
        if self._query is None:
            # psycopg keeps no query object for a prepared execution; Django's query log
            # (debug, assertNumQueries) reads the statement from it.
            self._query = cast(Any, _Statement(query))
        return result


def hot_cursor() -> CursorWrapper:
    """A cursor for the hot path: on PostgreSQL every statement it runs is prepared once per
    connection (Django's cursors bind values on the client, so PostgreSQL plans each statement
    every time). Queries still go through Django's wrapper, so query counts and logs see them."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        if raw.prepare_threshold is None:
            # Django opens connections with preparing switched off (None). Django's own cursors
            # bind on the client and never prepare, so a threshold no statement reaches only
            # lets this cursor's explicit ``prepare=True`` through.
            raw.prepare_threshold = 2**31 - 1
        cursor = _PreparingCursor(raw)
        # As Django's own cursors do: timestamps in the connection's time zone.
        loader = raw.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
        if connection.timezone != getattr(loader, "timezone", None):
            register_tzloader(connection.timezone, cursor)
        connection.validate_thread_sharing()
        wrapped = cast(Any, cursor)  # the stubs expect a wrapper here; Django wraps a DB cursor
        if connection.queries_logged:
            return connection.make_debug_cursor(wrapped)
        return connection.make_cursor(wrapped)


class _Statement:
    """What Django's query log reads of a psycopg cursor's last query: its SQL, as bytes."""

    def __init__(self, sql: str) -> None:
        self.query = sql.encode()


_PLACEHOLDER = re.compile(r"%%|%s")


def _inline_constants(sql: str, params: list[Any], keep: set[int]) -> tuple[str, list[Any]]:
    """``sql`` with every parameter but those at ``keep`` written in as a literal."""
    from psycopg.sql import Literal

    parts, kept, index = [], [], 0
    position = 0
    for match in _PLACEHOLDER.finditer(sql):
        parts.append(sql[position : match.start()])
        position = match.end()
        if match.group() == "%%":
            parts.append("%%")
            continue
        if index in keep:
            parts.append("%s")
            kept.append(params[index])
        else:
            literal = Literal(params[index]).as_string(connection.connection)
            parts.append(literal.replace("%", "%%"))
        index += 1
    parts.append(sql[position:])
    return "".join(parts), kept


class CompiledQuery:
    """A queryset's SQL with its value slots, and how to turn a row into its objects."""

    def __init__(self, queryset: QuerySet, slots: dict[str, Any]) -> None:
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        # slot name -> (positions in params, how a call's value becomes a parameter)
        found: dict[str, tuple[list[int], Callable[[Any], Any]]] = {}
        for name, marker in slots.items():
            adapt = _adapt_time if isinstance(marker, datetime) else _same
            compiled = adapt(marker)
            positions = [index for index, value in enumerate(params) if value == compiled]
            if not positions:
                raise ValueError(f"The compiled query does not use its {name!r} value.")
            found[name] = (positions, adapt)
        if connection.vendor == "postgresql":
            keep = sorted(index for positions, _ in found.values() for index in positions)
            sql, params = _inline_constants(sql, list(params), set(keep))
            renumber = {index: new for new, index in enumerate(keep)}
            found = {
                name: ([renumber[index] for index in positions], adapt)
                for name, (positions, adapt) in found.items()
            }
        self.sql, self.params, self.slots = sql, list(params), found
        self.compiler = compiler
        self.converters = compiler.get_converters(
            [column[0] for column in compiler.select[0 : compiler.col_count]]
        )
        klass_info = compiler.klass_info  # None for a values() query: no objects to build
        if klass_info is not None:
            self.model = klass_info["model"]
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            self.model_slice = slice(start, end)
            self.init_list = [column[0].target.attname for column in compiler.select[start:end]]
            # django-stubs describe Django 6's signature (with fetch_mode); this is 5.2's.
            self.populators = get_related_populators(  # type: ignore[call-arg]
                klass_info, compiler.select, connection.alias
            )

    def bind(self, values: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for name, (positions, adapt) in self.slots.items():
            value = adapt(values[name])
            for index in positions:
                params[index] = value
        return params

    def instance(self, row) -> Model:
        """The model instance (and its select_related objects) of one row of this query's
        columns, converted as the ORM would."""
        if self.converters:
            (row,) = self.compiler.apply_converters([row], self.converters)
        obj = self.model.from_db(connection.alias, self.init_list, row[self.model_slice])
        for populator in self.populators:
            populator.populate(row, obj)
        return obj

    def first(self, **values) -> Model | None:
        with hot_cursor() as cursor:
            cursor.execute(self.sql, self.bind(values))
            row = cursor.fetchone()
        return None if row is None else self.instance(row)


def _same(value: Any) -> Any:
    return value


def compiled(key: tuple, build: Callable[..., QuerySet], **slots: Any) -> CompiledQuery:
    """The compiled form of ``build(**slots)``, made once per thread and database connection
    settings (``key`` names the shape: whatever changes the SQL itself)."""
    cache = _compiled.__dict__.setdefault("queries", {})
    full_key = (connection.alias, connection.vendor, *key)
    query = cache.get(full_key)
    if query is None:
        query = cache[full_key] = CompiledQuery(build(**slots), slots)
    return query
