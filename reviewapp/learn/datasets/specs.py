"""Dataset specs: which corrections a dataset holds (``filters``), read as rows (``row``).

A spec is a workflow plus filters; its rows stream from the database in a fixed order: as
tuples that ``RowEncoder`` turns into rows, or, on PostgreSQL, as JSONL lines the database
builds itself.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, islice
from typing import Any

from django.db import connections, transaction
from django.db.models import F, QuerySet
from psycopg import sql as psycopg_sql

from reviewapp.core.pooling import streaming_alias
from reviewapp.learn.datasets.exporters import Line
from reviewapp.learn.datasets.filters import (
    SpecInvalid,
    postgresql,
    spec_filters_parse,
    spec_latest,
    spec_matching,
)
from reviewapp.learn.datasets.jsontext import jsonb_text
from reviewapp.learn.datasets.protection import REDACTED, protect_input, pseudonym, sensitive_fields
from reviewapp.learn.datasets.row import VERSION_SELECT, EncodedRow, ExportRow, RowEncoder
from reviewapp.learn.datasets.splits import SPLITS, SplitOf, split_for
from reviewapp.learn.datasets.sqltext import SqlText
from reviewapp.review.corrections.services import canonical_hash

# The deduplication joins the corrections to themselves by input. Right after a burst of new
# corrections, before autovacuum has analysed the table, PostgreSQL may take it for tiny and
# pick a nested loop, which compares every row with every other. A hash anti-join is right at
# every size, so the dataset queries rule nested loops out.
NO_NESTED_LOOPS = "SET LOCAL enable_nestloop = off"


def _row_values(*, workflow, filters: dict, row_type: type[EncodedRow]) -> QuerySet:
    selected = row_type.selected()
    # The workflow version is joined before the four-eyes answers: the query has more joins
    # than join_collapse_limit, so PostgreSQL plans them in the order they are written.
    annotations = dict(
        [VERSION_SELECT, *((n, value) for n, value in selected if value is not None)]
    )
    return (
        spec_latest(workflow=workflow, filters=filters)
        .using(streaming_alias())
        .annotate(**annotations)
        .values_list(*(name for name, _ in selected))
    )


def spec_rows(
    *, workflow, filters: dict, chunk: int = 5000, row_type: type[EncodedRow] = ExportRow
) -> Iterator[tuple]:
    """``spec_latest`` as tuples of what ``row_type`` reads (``RowEncoder`` makes rows of
    them), streamed ``chunk`` rows at a time from a server-side cursor, so memory stays flat."""
    values = _row_values(workflow=workflow, filters=filters, row_type=row_type)
    if not postgresql():
        yield from values.iterator(chunk_size=chunk)
        return
    alias = values.db
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        # Restored afterwards: inside a caller's transaction SET LOCAL would outlive the rows.
        cursor.execute("SELECT current_setting('enable_nestloop')")
        (previous,) = cursor.fetchone()
        cursor.execute(NO_NESTED_LOOPS)
        try:
            yield from values.iterator(chunk_size=chunk)
        finally:
            cursor.execute("SELECT set_config('enable_nestloop', %s, true)", [previous])


@contextmanager
def spec_rows_counted(
    *, workflow, filters: dict, chunk: int = 5000, row_type: type[EncodedRow] = ExportRow
) -> Iterator[tuple[int, Iterator[tuple]]]:
    """``(how many, rows)``: ``spec_rows`` with its count, from one query."""
    values = _row_values(workflow=workflow, filters=filters, row_type=row_type)
    if not postgresql():
        # No scrollable cursors: count, then read (the quick start's data is small).
        yield values.count(), values.iterator(chunk_size=chunk)
        return
    with _held(values, chunk) as (total, chunks):
        yield total, chain.from_iterable(chunks)


@contextmanager
def _held(values: QuerySet, chunk: int) -> Iterator[tuple[int, Iterator[list[tuple]]]]:
    """PostgreSQL: ``(how many, rows in lists of chunk)`` of ``values`` from a held, scrollable
    cursor on the queryset's connection.

    PostgreSQL computes the result once, in one snapshot, and counting it (move to the end,
    then back to the start) reads that result instead of running the deduplication a second
    time. The cursor outlives the transaction, so a build commits its progress as it reads.
    It lives in a session: on the ``session`` connection behind a pooler in transaction mode
    (``streaming_alias``), which reading pages in short transactions would not replace: each
    page would run the deduplication again, in a snapshot of its own.
    """
    sql, params = values.query.sql_with_params()
    connection = connections[values.db]
    connection.ensure_connection()
    raw = connection.connection  # psycopg's own connection: Django's cursors cannot scroll
    name = f"dataset_rows_{uuid.uuid4().hex}"
    with raw.cursor(name=name, scrollable=True, withhold=True) as cursor:
        # Cursors are planned for their first 10% of rows by default; this one is read to
        # the end at once (held, then counted), so plan for all of it (a fifth faster at 1M).
        raw.execute("SET cursor_tuple_fraction = 1.0")
        raw.execute("SET enable_nestloop = off")  # see NO_NESTED_LOOPS
        try:
            cursor.execute(sql, params)
        finally:
            raw.execute("RESET cursor_tuple_fraction")
            raw.execute("RESET enable_nestloop")
        total = raw.execute(
            psycopg_sql.SQL("MOVE FORWARD ALL FROM {}").format(psycopg_sql.Identifier(name))
        ).rowcount
        cursor.scroll(0, mode="absolute")

        def chunks() -> Iterator[list[tuple]]:
            while values := cursor.fetchmany(chunk):
                yield values

        yield total, chunks()


# What the manifest counts of a line: class label, reason codes, workflow version, model
# version, as text joined by TALLY_SEPARATOR (JSON text never holds a raw control character;
# the model version comes last, so a separator in it is harmless).
TALLY_SEPARATOR = "\x1f"


def _tally_key() -> SqlText:
    return SqlText(
        "coalesce(({} -> 'label')::text, '') || chr(31) || ({})::text || chr(31) || "
        "coalesce(({})::text, '') || chr(31) || {}",
        F("human_output"),
        F("reason_codes"),
        F("workflow_version__number"),
        F("model_version"),
    )


def tally_key(row: EncodedRow, version: int | None) -> str:
    """``_tally_key`` of a row made in Python."""
    output = row.human_output.value
    label = jsonb_text(output["label"]) if isinstance(output, dict) and "label" in output else ""
    return TALLY_SEPARATOR.join(
        [label, row.reason_codes.jsonb, "" if version is None else str(version),
         row.model_version.value]
    )  # fmt: skip


@contextmanager
def spec_lines_counted(
    *,
    workflow,
    filters: dict,
    sensitive: dict[str, str],
    chunk: int = 5000,
    row_type: type[EncodedRow] = ExportRow,
) -> Iterator[tuple[int, Iterator[list[Line]]]]:
    """``(how many, lines in lists of up to chunk)``: each dataset row as ``(split, tally key,
    JSONL text)``. Lists, because at a million rows a Python call per line cost more than
    writing it.

    PostgreSQL builds the lines (``row_type.line_sql``); SQLite rows are encoded here, into the
    same bytes.
    """
    if not postgresql():
        reading = spec_rows_counted(
            workflow=workflow, filters=filters, chunk=chunk, row_type=row_type
        )
        with reading as (total, rows):
            encoder = RowEncoder(sensitive, row_type)

            def encoded() -> Iterator[list[Line]]:
                while values := list(islice(rows, chunk)):
                    lines = []
                    for value in values:
                        row, version = encoder.row(value)
                        lines.append((row.split, tally_key(row, version), row.jsonl()))
                    yield lines

            yield total, encoded()
        return
    lines = (
        spec_latest(workflow=workflow, filters=filters)
        .using(streaming_alias())
        .annotate(
            line_split=SplitOf("input_hash"),
            line_tally=_tally_key(),
            line_text=row_type.line_sql(sensitive),
        )
        .values_list("line_split", "line_tally", "line_text")
    )
    with _held(lines, chunk) as counted:
        yield counted


def output_class(human_output: Any) -> str:
    """The class of a row for counting: the human label, or "(none)" when there is none."""
    label = human_output.get("label") if isinstance(human_output, dict) else None
    return str(label) if label is not None else "(none)"


# Callers name these as parts of a spec; they live in the modules above.
__all__ = [
    "REDACTED",
    "SPLITS",
    "TALLY_SEPARATOR",
    "SpecInvalid",
    "canonical_hash",
    "output_class",
    "protect_input",
    "pseudonym",
    "sensitive_fields",
    "spec_filters_parse",
    "spec_latest",
    "spec_lines_counted",
    "spec_matching",
    "spec_rows",
    "spec_rows_counted",
    "split_for",
    "tally_key",
]
