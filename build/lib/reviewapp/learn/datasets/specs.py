"""Dataset specs: which corrections a dataset holds, and how each becomes a row.

A spec is a workflow plus ``filters``. Filters are parsed strictly against ``FILTERS``: an
unknown name or a bad value is reported as ``filters.<name>`` and nothing the client sent
reaches the ORM except through the fixed lookups below.
"""

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import chain, islice
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone
from psycopg import sql as psycopg_sql

from reviewapp.core.errors import InvalidRequest
from reviewapp.learn.datasets.exporters import (
    Encoded,
    ExportRow,
    Line,
    encode,
    jsonb_key,
    jsonb_text,
)
from reviewapp.review.corrections.models import Correction, ReasonCode
from reviewapp.review.corrections.services import canonical_hash, reviewer_pseudonym_of
from reviewapp.review.quality.models import GoldTask
from workflows.definitions import SENSITIVE_MODES

# The split of a row follows from its input alone, so a ticket seen again in a later release
# lands in the same split: no leakage from train into test across releases.
SPLITS = (("train", 80), ("validation", 10), ("test", 10))
REDACTED = "[redacted]"
DECISIONS = ("correct", "reject")


class SpecInvalid(InvalidRequest):
    detail = "The dataset spec is not valid."


def _moment(workflow, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Give an ISO 8601 date or time.")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Give an ISO 8601 date or time.") from None
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("Give a non-empty list.")
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError("Every entry must be a non-empty string.")
    return sorted(set(value))


def _check_versions(workflow, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValueError("Give a non-empty list of version numbers.")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError("Version numbers are positive integers.")
    known = set(workflow.versions.values_list("number", flat=True))
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"No such version of {workflow.slug}: {', '.join(map(str, unknown))}.")
    return sorted(set(value))


def _known_names(value: Any, known, what: str) -> list[str]:
    """``value`` as a list of names, each of which must be in the ``known`` queryset."""
    names = _string_list(value)
    existing = set(known)
    unknown = [name for name in names if name not in existing]
    if unknown:
        raise ValueError(f"Not {what}: {', '.join(unknown)}.")
    return names


def _check_queues(workflow, value: Any) -> list[str]:
    from reviewapp.review.reviews.models import Queue

    slugs = Queue.objects.filter(workflow=workflow).values_list("slug", flat=True)
    return _known_names(value, slugs, f"a queue of {workflow.slug}")


def _check_reasons(workflow, value: Any) -> list[str]:
    codes = ReasonCode.objects.filter(workflow=workflow).values_list("code", flat=True)
    return _known_names(value, codes, f"a reason code of {workflow.slug}")


def _check_decision(workflow, value: Any) -> str:
    if value not in DECISIONS:
        raise ValueError(f"Choose one of {', '.join(DECISIONS)}.")
    return str(value)


def _check_flag(workflow, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Give true or false.")
    return value


FILTERS: dict[str, Callable[[Any, Any], Any]] = {
    "created_after": _moment,
    "created_before": _moment,
    "workflow_versions": _check_versions,
    "queues": _check_queues,
    "reason_codes": _check_reasons,
    "decision": _check_decision,
    "qa_samples_only": _check_flag,
}


def spec_filters_parse(*, workflow, filters: Any) -> dict:
    """The canonical form of ``filters`` (sorted, deduplicated), or ``SpecInvalid``."""
    if not isinstance(filters, dict):
        raise SpecInvalid({"filters": ["Give the filters as an object."]})
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for name, value in filters.items():
        check = FILTERS.get(name)
        if check is None:
            errors[f"filters.{name}"] = [
                f"Unknown filter. Use one of: {', '.join(sorted(FILTERS))}."
            ]
            continue
        try:
            clean[name] = check(workflow, value)
        except ValueError as problem:
            errors[f"filters.{name}"] = [str(problem)]
    if (
        not errors
        and "created_after" in clean
        and "created_before" in clean
        and _aware(clean["created_after"]) >= _aware(clean["created_before"])
    ):
        errors["filters.created_before"] = ["Must be later than created_after."]
    if errors:
        raise SpecInvalid(errors)
    # "Only QA samples: no" means no filter at all; keep the stored spec minimal.
    if clean.get("qa_samples_only") is False:
        del clean["qa_samples_only"]
    return dict(sorted(clean.items()))


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def spec_matching(*, workflow, filters: dict) -> QuerySet[Correction]:
    """Every correction matching already parsed ``filters``, duplicates included.

    Gold items (known answers mixed into queues to check reviewers) are never dataset rows,
    whatever the filters: their decisions do not record corrections, and this keeps it so.
    """
    # Correlated on the correction's own item_id: the deduplication below repeats these
    # filters, and a join to the items for each would cost two million-row joins per export.
    showings = GoldTask.objects.filter(item_id=OuterRef("item_id"))
    matching = Correction.objects.filter(~Exists(showings), workflow=workflow)
    if "created_after" in filters:
        matching = matching.filter(created_at__gte=_aware(filters["created_after"]))
    if "created_before" in filters:
        matching = matching.filter(created_at__lt=_aware(filters["created_before"]))
    if "workflow_versions" in filters:
        matching = matching.filter(workflow_version__number__in=filters["workflow_versions"])
    if "queues" in filters:
        matching = matching.filter(decision__task__queue__slug__in=filters["queues"])
    if "reason_codes" in filters:
        any_reason = Q()
        for code in filters["reason_codes"]:
            any_reason |= (
                Q(reason_codes__contains=[code])
                if _postgresql()
                else Q(JsonListHas(F("reason_codes"), Value(code)))
            )
        matching = matching.filter(any_reason)
    if "decision" in filters:
        matching = matching.filter(decision__outcome=filters["decision"])
    if filters.get("qa_samples_only"):
        matching = matching.filter(item__routing__qa_sample=True)
    return matching


def _postgresql() -> bool:
    """The export query is tuned for PostgreSQL; the embedded quick start runs on SQLite, which
    gets portable (slower, small-data) forms of the few parts PostgreSQL alone can do."""
    return connection.vendor == "postgresql"


class JsonListHas(Func):
    """SQLite: the JSON list (first argument) holds the string (second argument).

    What ``reason_codes__contains=[code]`` means on PostgreSQL; SQLite's JSONField has no
    ``contains`` lookup.
    """

    output_field = BooleanField()

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        json_list, list_params = compiler.compile(self.source_expressions[0])
        wanted, wanted_params = compiler.compile(self.source_expressions[1])
        # Both parts are compiled expressions; every value travels as a parameter.
        return (
            f"EXISTS (SELECT 1 FROM json_each({json_list}) AS listed "  # noqa: S608
            f"WHERE listed.type = 'text' AND listed.value = {wanted})",
            (*list_params, *wanted_params),
        )


def split_for(input_value: Any) -> str:
    """train / validation / test, 80/10/10, from the SHA-256 of the canonical input."""
    return split_of_hash(canonical_hash(input_value))


def split_of_hash(input_hash: str) -> str:
    """The split of an input from its ``canonical_hash`` (``Correction.input_hash``)."""
    # The first 8 hex digits of the SHA-256, as an integer; SplitOf does the same in SQL.
    bucket = int(input_hash[:8], 16) % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the split shares add up to 100")  # pragma: no cover


class SplitOf(Func):
    """PostgreSQL: ``split_of_hash`` of a hex SHA-256 column."""

    output_field = TextField()

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        digest, params = compiler.compile(self.source_expressions[0])
        bucket = f"mod(('x' || substr({digest}, 1, 8))::bit(32)::bigint, 100)"
        cases, bound = [], 0
        for name, share in SPLITS[:-1]:
            bound += share
            cases.append(f"WHEN {bucket} < {bound} THEN '{name}'")
        # Constants only: the split names and shares above; the digest is a compiled column.
        sql = f"CASE {' '.join(cases)} ELSE '{SPLITS[-1][0]}' END"
        return sql, tuple(params) * (len(SPLITS) - 1)


def sensitive_fields(workflow) -> dict[str, str]:
    """``{field: "redact" | "pseudonymise"}`` over every version of the workflow.

    A field marked in any version stays sensitive for all rows: older items were ingested under
    older versions, and unmarking a field later must not leak what was once declared sensitive.
    Where versions disagree, redaction (the stronger treatment) wins.
    """
    fields: dict[str, str] = {}
    for definition in workflow.versions.values_list("definition", flat=True):
        for name, schema in definition["input_schema"].get("properties", {}).items():
            mode = schema.get("x-sensitive") if isinstance(schema, dict) else None
            if mode in SENSITIVE_MODES and fields.get(name) != "redact":
                fields[name] = mode
    return dict(sorted(fields.items()))


def pseudonym(field: str, value: Any) -> str:
    """The same value of the same field always gets the same pseudonym (joins still work).

    The value is taken as its jsonb text, so PostgreSQL computes the same pseudonym on the
    export's fast path (``ProtectedInput``); for text values it is also ``json.dumps``' text.
    """
    digest = hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(),
        f"field:{field}:{jsonb_text(value)}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"pseud-{digest[:16]}"


def _hmac_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), so that PostgreSQL's built-in
    ``sha256()`` computes ``pseudonym`` without the pgcrypto extension."""
    key = settings.REVIEWAPP_PSEUDONYM_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def protect_input(input_value: dict, fields: dict[str, str]) -> dict:
    """``input_value`` itself when there is nothing to protect in it, else a protected copy."""
    if not any(input_value.get(name) is not None for name in fields):
        return input_value
    protected = dict(input_value)
    for name, mode in fields.items():
        if name in protected and protected[name] is not None:
            protected[name] = REDACTED if mode == "redact" else pseudonym(name, protected[name])
    return protected


# What a build reads per correction. JSON arrives as text: the input is parsed per row, the
# other values once per distinct text (see RowEncoder).
ROW_COLUMNS = (
    "item_id",
    "input_json",
    "model_output_json",
    "human_output_json",
    "diff_json",
    "reason_codes_json",
    "comment",
    "model_version",
    "reviewer_pseudonym",
    "corrected_at",
    "workflow_version_number",
    "input_hash",
    "four_eyes_status",
    "first_task_outcome",
    "first_task_output_json",
    "first_task_reviewer",
    "second_task_outcome",
    "second_task_output_json",
    "second_task_reviewer",
)


class IsoFormatUTC(Func):
    """A timestamp as ``datetime.isoformat()`` writes the UTC datetime Django loads for it.

    Formatting a million timestamps in the database costs less than loading each into a Python
    datetime and formatting it there.
    """

    # isoformat() leaves out a zero fraction; ".000000" cannot stand anywhere else in the text.
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        "'.000000', '') || '+00:00'"
    )
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores an aware datetime on SQLite as the text of the naive UTC datetime,
        # "YYYY-MM-DD HH:MM:SS[.ffffff]" (str(), which like isoformat() drops a zero fraction).
        return self.as_sql(
            compiler,
            connection,
            template=(
                "substr(%(expressions)s, 1, 10) || 'T' || substr(%(expressions)s, 12, 8) || "
                "CASE WHEN length(%(expressions)s) > 19 "
                "AND substr(%(expressions)s, 21) != '000000' "
                "THEN '.' || substr(%(expressions)s, 21, 6) ELSE '' END || '+00:00'"
            ),
            **extra_context,
        )


def spec_latest(*, workflow, filters: dict) -> QuerySet[Correction]:
    """The dataset's corrections: one per distinct input, oldest first.

    Duplicates are inputs with the same content, compared by ``input_hash`` (the SHA-256 of the
    canonical JSON, so key order is irrelevant); the latest correction of each wins because it
    reflects the reviewers' current understanding. "No newer matching correction of the same
    input" runs as a hash anti-join on the 64-character hash, far cheaper than comparing the
    jsonb inputs themselves.
    """
    matching = spec_matching(workflow=workflow, filters=filters)
    newer = matching.filter(input_hash=OuterRef("input_hash")).filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    return matching.filter(~Exists(newer)).order_by("created_at", "id")


def _pair_answers() -> dict:
    """The columns ``RowEncoder`` makes the disagreement of a four-eyes review from."""
    columns: dict = {"four_eyes_status": F("four_eyes__status")}
    for task in ("first_task", "second_task"):
        decision = f"four_eyes__{task}__decision"
        columns[f"{task}_outcome"] = F(f"{decision}__outcome")
        columns[f"{task}_output_json"] = Cast(f"{decision}__output", TextField())
        columns[f"{task}_reviewer"] = F(f"{decision}__reviewer")
    return columns


def _row_values(*, workflow, filters: dict) -> QuerySet:
    return (
        spec_latest(workflow=workflow, filters=filters)
        .annotate(
            input_json=Cast("input", TextField()),
            model_output_json=Cast("model_output", TextField()),
            human_output_json=Cast("human_output", TextField()),
            diff_json=Cast("diff", TextField()),
            reason_codes_json=Cast("reason_codes", TextField()),
            corrected_at=IsoFormatUTC("created_at"),
            workflow_version_number=F("workflow_version__number"),
            **_pair_answers(),
        )
        .values_list(*ROW_COLUMNS)
    )


# The deduplication joins the corrections to themselves by input. Right after a burst of new
# corrections, before autovacuum has analysed the table, PostgreSQL may take it for tiny and
# pick a nested loop, which compares every row with every other. A hash anti-join is right at
# every size, so the dataset queries rule nested loops out.
NO_NESTED_LOOPS = "SET LOCAL enable_nestloop = off"


def spec_rows(*, workflow, filters: dict, chunk: int = 5000) -> Iterator[tuple]:
    """``spec_latest`` as tuples in ``ROW_COLUMNS`` order, streamed ``chunk`` rows at a time
    from a server-side cursor, so memory stays flat."""
    values = _row_values(workflow=workflow, filters=filters)
    if not _postgresql():
        yield from values.iterator(chunk_size=chunk)
        return
    with transaction.atomic(), connection.cursor() as cursor:
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
    *, workflow, filters: dict, chunk: int = 5000
) -> Iterator[tuple[int, Iterator[tuple]]]:
    """``(how many, rows)``: ``spec_rows`` with its count, from one query."""
    values = _row_values(workflow=workflow, filters=filters)
    if not _postgresql():
        # No scrollable cursors: count, then read (the quick start's data is small).
        yield values.count(), values.iterator(chunk_size=chunk)
        return
    with _held(values, chunk) as (total, chunks):
        yield total, chain.from_iterable(chunks)


@contextmanager
def _held(values: QuerySet, chunk: int) -> Iterator[tuple[int, Iterator[list[tuple]]]]:
    """PostgreSQL: ``(how many, rows in lists of chunk)`` of ``values`` from a held, scrollable
    cursor.

    PostgreSQL computes the result once, in one snapshot, and counting it (move to the end,
    then back to the start) reads that result instead of running the deduplication a second
    time. The cursor outlives the transaction, so a build commits its progress as it reads.
    """
    sql, params = values.query.sql_with_params()
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


# --- JSONL lines built by PostgreSQL -------------------------------------------------------------
# At a million rows, parsing and re-encoding each row in Python cost more than everything else
# in a JSONL export together. On PostgreSQL each line is built in SQL as jsonb text (the format
# ``exporters.jsonl_line`` defines), with the values the manifest counts beside it.


class SqlText(Func):
    """SQL text with compiled expressions in the ``{}`` places, in order.

    The text itself is a constant of this module; values the user or the settings chose travel
    as ``Value`` expressions, i.e. as query parameters.
    """

    output_field = TextField()

    def __init__(self, text: str, *expressions) -> None:
        if text.count("{}") != len(expressions):
            raise ValueError("one expression per {} in the text")
        self.text = text
        super().__init__(*expressions)

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        parts, params = [], []
        for expression in self.source_expressions:
            sql, values = compiler.compile(expression)
            parts.append(sql)
            params.extend(values)
        return self.text.format(*parts), params


def _text(value: str) -> SqlText:
    return SqlText("CAST({} AS text)", Value(value))


def _hmac_hex16(message: SqlText) -> SqlText:
    """The first 16 hex digits of HMAC-SHA256(REVIEWAPP_PSEUDONYM_KEY, message), in SQL."""
    inner, outer = _hmac_pads()
    return SqlText(
        "left(encode(sha256({} || sha256({} || convert_to({}, 'UTF8'))), 'hex'), 16)",
        SqlText("CAST({} AS bytea)", Value(outer)),
        SqlText("CAST({} AS bytea)", Value(inner)),
        message,
    )


def _disagreement() -> SqlText:
    """``RowEncoder``'s disagreement as jsonb text: the pair's answers when they disagreed."""
    answers = []
    for task in ("first_task", "second_task"):
        decision = f"four_eyes__{task}__decision"
        answers.append(
            SqlText(
                "jsonb_build_object('outcome', {}, 'output', {}, 'reviewer', {})",
                F(f"{decision}__outcome"),
                F(f"{decision}__output"),
                # reviewer_pseudonym_of(reviewer id)
                _hmac_hex16(SqlText("'reviewer:' || ({})::text", F(f"{decision}__reviewer"))),
            )
        )
    return SqlText(
        "CASE WHEN {} = 'disagreed' THEN "
        "jsonb_build_object('answers', jsonb_build_array({}, {}))::text ELSE 'null' END",
        F("four_eyes__status"),
        *answers,
    )


def _protected_input(sensitive: dict[str, str]):
    """``protect_input`` in SQL: each sensitive field present and not null is replaced by
    ``REDACTED`` or by its ``pseudonym`` (HMAC-SHA256 from the built-in ``sha256()``)."""
    if not sensitive:
        return F("input")
    replaced = []
    for name, mode in sensitive.items():
        if mode == "redact":
            replacement = _text(REDACTED)
        else:
            replacement = SqlText(
                "'pseud-' || {}",
                _hmac_hex16(
                    SqlText(
                        "{} || ({} -> {})::text", _text(f"field:{name}:"), F("input"), _text(name)
                    )
                ),
            )
        replaced += [
            _text(name),
            SqlText(
                "CASE WHEN coalesce(jsonb_typeof({} -> {}), 'null') <> 'null' "
                "THEN to_jsonb({}) END",
                F("input"),
                _text(name),
                replacement,
            ),
        ]
    # jsonb_strip_nulls drops the fields that were absent or null: they stay as they were.
    built = f"jsonb_strip_nulls(jsonb_build_object({', '.join(['{}'] * len(replaced))}))"
    return SqlText(
        "CASE WHEN jsonb_typeof({}) = 'object' THEN {} || " + built + " ELSE {} END",
        F("input"),
        F("input"),
        *replaced,
        F("input"),
    )


def _jsonl_line(sensitive: dict[str, str]) -> SqlText:
    """``ExportRow.jsonl`` in SQL: the row as jsonb text, keys in jsonb's order."""
    members = {  # key: (SQL of its JSON text, the expression in it)
        "diff": ("({})::text", F("diff")),
        "input": ("({})::text", _protected_input(sensitive)),
        "split": ("'\"' || {} || '\"'", SplitOf("input_hash")),  # never needs escaping
        "comment": ("to_json({})::text", F("comment")),
        "item_id": ("({})::text", F("item_id")),
        "reviewer": ("to_json({})::text", F("reviewer_pseudonym")),
        "corrected_at": ("'\"' || {} || '\"'", IsoFormatUTC("created_at")),
        "disagreement": ("{}", _disagreement()),
        "human_output": ("({})::text", F("human_output")),
        "model_output": ("({})::text", F("model_output")),
        "reason_codes": ("({})::text", F("reason_codes")),
        "model_version": ("to_json({})::text", F("model_version")),
    }
    order = sorted(members, key=jsonb_key)
    parts = []
    for n, key in enumerate(order):
        opening = ", " if n else "{{"  # "{{" is "{" once SqlText has filled in the places
        parts.append(f"'{opening}\"{key}\": ' || {members[key][0]}")
    return SqlText(" || ".join(parts) + " || '}}'", *(members[key][1] for key in order))


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


def tally_key(row: ExportRow, version: int | None) -> str:
    """``_tally_key`` of a row made in Python."""
    output = row.human_output.value
    label = jsonb_text(output["label"]) if isinstance(output, dict) and "label" in output else ""
    return TALLY_SEPARATOR.join(
        [label, row.reason_codes.jsonb, "" if version is None else str(version),
         row.model_version.value]
    )  # fmt: skip


@contextmanager
def spec_lines_counted(
    *, workflow, filters: dict, sensitive: dict[str, str], chunk: int = 5000
) -> Iterator[tuple[int, Iterator[list[Line]]]]:
    """``(how many, lines in lists of up to chunk)``: each dataset row as ``(split, tally key,
    JSONL text)``. Lists, because at a million rows a Python call per line cost more than
    writing it.

    PostgreSQL builds the lines (``_jsonl_line``); SQLite rows are encoded here, into the same
    bytes.
    """
    if not _postgresql():
        with spec_rows_counted(workflow=workflow, filters=filters, chunk=chunk) as (total, rows):
            encoder = RowEncoder(sensitive)

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
        .annotate(
            line_split=SplitOf("input_hash"),
            line_tally=_tally_key(),
            line_text=_jsonl_line(sensitive),
        )
        .values_list("line_split", "line_tally", "line_text")
    )
    with _held(lines, chunk) as counted:
        yield counted


DISAGREED = "disagreed"  # FourEyesStatus.DISAGREED
NO_DISAGREEMENT = encode(None)


class RowEncoder:
    """Turns ``spec_rows`` tuples into ``ExportRow``s for one export.

    Built once per export: the redaction plan is fixed, and values that repeat across rows
    (outputs, diffs, reason codes, comments, reviewers, models) are parsed and serialised once,
    keyed by their database text. The caches are bounded so memory stays flat in N.
    """

    CACHE_LIMIT = 20_000

    def __init__(self, sensitive: dict[str, str]) -> None:
        self.sensitive = sensitive
        self._json: dict[str, Encoded] = {}
        self._text: dict[str, Encoded] = {}

    def _new_json(self, text: str) -> Encoded:
        if len(self._json) >= self.CACHE_LIMIT:
            self._json.clear()
        found = self._json[text] = encode(json.loads(text))
        return found

    def _new_text(self, text: str) -> Encoded:
        if len(self._text) >= self.CACHE_LIMIT:
            self._text.clear()
        found = self._text[text] = encode(text)
        return found

    @staticmethod
    def _disagreement(pair: list) -> Encoded:
        first, second = pair[:3], pair[3:]
        return encode(
            {
                "answers": [
                    {
                        "outcome": outcome,
                        "output": json.loads(output),
                        "reviewer": reviewer_pseudonym_of(reviewer),
                    }
                    for outcome, output, reviewer in (first, second)
                ]
            }
        )

    def row(self, values: tuple) -> tuple[ExportRow, int | None]:
        """The row and the workflow version number of its item."""
        (item_id, input_json, model_output, human_output, diff, reasons, comment, model,
         reviewer, corrected_at, version, input_hash, four_eyes, *pair) = values  # fmt: skip
        # Hot loop: plain dict lookups (an Encoded is a non-empty tuple, so never falsy).
        known_json, known_text = self._json.get, self._text.get
        raw = json.loads(input_json)
        protected = protect_input(raw, self.sensitive) if self.sensitive else raw
        row = ExportRow(
            item_id,
            protected,
            known_json(model_output) or self._new_json(model_output),
            known_json(human_output) or self._new_json(human_output),
            known_json(diff) or self._new_json(diff),
            known_json(reasons) or self._new_json(reasons),
            known_text(comment) or self._new_text(comment),
            known_text(model) or self._new_text(model),
            known_text(reviewer) or self._new_text(reviewer),
            corrected_at,
            # Split by the raw input so redaction never moves a row between splits.
            split_of_hash(input_hash),
            self._disagreement(pair) if four_eyes == DISAGREED else NO_DISAGREEMENT,
        )
        return row, version


def output_class(human_output: Any) -> str:
    """The class of a row for counting: the human label, or "(none)" when there is none."""
    label = human_output.get("label") if isinstance(human_output, dict) else None
    return str(label) if label is not None else "(none)"
