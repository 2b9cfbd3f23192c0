"""The reviewers' hot path as explicit SQL, run on a cursor that PostgreSQL can prepare.

Building and compiling a queryset costs more CPU than PostgreSQL spends running it, and the
claim and the decision run the same few statements all day with different ids. So those
statements are written here once as SQL text (from the models' metadata), their rows become
objects through ``Model.from_db``, and on PostgreSQL they run on a cursor that binds values on
the server, so that psycopg prepares each statement once per connection (planning the claim's
walk down the claim index cost as much as running it).

Preparing is psycopg's own feature, switched by ``DATABASES["default"]["OPTIONS"]
["prepare_threshold"]`` (``REVIEWAPP_PREPARED_STATEMENTS``): off, these statements run on
Django's ordinary cursor, which a pooler in transaction mode (PgBouncer before 1.21) needs.
The rules' constants (statuses) are written into the SQL and only a call's values are
parameters, so a generic plan can still use the partial indexes whose conditions name them.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model


def prepared_statements() -> bool:
    """Whether the hot path's statements are prepared on this connection's database."""
    return connection.vendor == "postgresql" and settings.REVIEWAPP_PREPARED_STATEMENTS


class HotCursor:
    """Django's cursor (connection checks, query log, error translation) whose database cursor
    binds values on the server, the only kind psycopg prepares (Django's own bind on the
    client)."""

    def __init__(self, cursor: CursorWrapper) -> None:
        self.cursor = cursor

    def execute(self, sql: str, params: Any) -> None:
        self.cursor.execute(sql, params)
        log = connection.queries_log
        if connection.queries_logged and log and log[-1]["sql"] is None:
            # Django's query log (DEBUG, assertNumQueries) reads the text back from the
            # cursor, and psycopg keeps none of a prepared execution: the statement it ran.
            log[-1]["sql"] = sql

    def fetchone(self) -> Any:
        return self.cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()


@contextmanager
def hot_cursor() -> Iterator[CursorWrapper | HotCursor]:
    with connection.cursor() as cursor:
        if not prepared_statements():
            yield cursor
            return
        cursor.cursor.close()
        cursor.cursor = psycopg.Cursor(connection.connection)
        yield HotCursor(cursor)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def concrete_fields(model: type[Model]) -> list[Field]:
    """The model's columns, in the order ``Model.from_db`` and ``SELECT *`` both use."""
    return [
        field  # type: ignore[misc]
        for field in model._meta.get_fields()
        if field.concrete and not field.many_to_many
    ]


@cache
def columns(model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{quote(str(field.column))}" for field in concrete_fields(model))


def instance(model: type[Model], values: Sequence[Any]) -> Model:
    """The ``model`` object of one row of its columns (as ``columns`` lists them), with each
    value converted as the ORM converts it (JSON is read as text, then decoded by the field)."""
    fields = concrete_fields(model)
    converted = [
        value
        if value is None or not hasattr(field, "from_db_value")
        else field.from_db_value(value, None, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], converted)


@dataclass
class Joined:
    """A related object read in the same statement: where it hangs and how it is joined."""

    name: str  # the relation's name on the parent (a foreign key, or a reverse one-to-one)
    model: type[Model]
    alias: str
    parent: "Joined | None"
    forward: bool
    children: list["Joined"] = field(default_factory=list)


class RowReader:
    """``SELECT`` of a model's row and the relations named as in ``select_related`` (forward
    foreign keys and reverse one-to-ones), each joined once, and how a row becomes the object
    with those relations attached (so reading them later runs no query)."""

    def __init__(self, model: type[Model], alias: str, related: Sequence[str]) -> None:
        self.model, self.alias = model, alias
        self.root: list[Joined] = []
        self.joins: list[str] = []
        self.order: list[Joined] = []
        for path in related:
            self._add(path.split("__"))

    def _add(self, names: list[str]) -> None:
        siblings, parent, model, alias, outer = self.root, None, self.model, self.alias, False
        for name in names:
            found = next((joined for joined in siblings if joined.name == name), None)
            relation: Any = model._meta.get_field(name)
            forward = bool(relation.concrete)
            # A reverse one-to-one or a nullable key may have no row: LEFT JOIN, and so must
            # everything below it.
            outer = outer or not forward or bool(relation.null)
            if found is None:
                related_model = relation.related_model
                found = Joined(name, related_model, f"j{len(self.order)}", parent, forward)
                kind = "LEFT OUTER JOIN" if outer else "INNER JOIN"
                table = quote(related_model._meta.db_table)
                if forward:
                    mine, theirs = relation.column, relation.target_field.column
                else:
                    mine, theirs = model._meta.pk.column, relation.remote_field.column
                condition = f"{found.alias}.{quote(theirs)} = {alias}.{quote(mine)}"
                self.joins.append(f"{kind} {table} {found.alias} ON {condition}")
                siblings.append(found)
                self.order.append(found)
            siblings, parent, model, alias = found.children, found, found.model, found.alias

    @property
    def select(self) -> str:
        parts = [columns(self.model, self.alias)]
        parts += [columns(joined.model, joined.alias) for joined in self.order]
        table = quote(self.model._meta.db_table)
        joins = " ".join(self.joins)
        return f"SELECT {', '.join(parts)} FROM {table} {self.alias} {joins}"  # noqa: S608

    def read(self, row: Sequence[Any]) -> Model:
        width = len(concrete_fields(self.model))
        obj = instance(self.model, row[:width])
        objects: dict[int, Model | None] = {}
        position = width
        for joined in self.order:
            count = len(concrete_fields(joined.model))
            values = row[position : position + count]
            position += count
            parent = obj if joined.parent is None else objects[id(joined.parent)]
            # The first column is the primary key: NULL when the LEFT JOIN found no row.
            child = None if values[0] is None else instance(joined.model, values)
            objects[id(joined)] = child
            if parent is None:
                continue
            if child is not None or joined.forward:
                setattr(parent, joined.name, child)
            else:
                # No row on the other side: remembered, as select_related does, so reading
                # it raises DoesNotExist without a query.
                relation: Any = parent._meta.get_field(joined.name)
                relation.set_cached_value(parent, None)
        return obj
