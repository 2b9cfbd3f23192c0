"""The exported row, declared once: ``ROW``.

Each ``Column`` says where its value comes from (``select``: what the row query reads; ``line``:
what PostgreSQL writes into a JSONL line) and what it means (``note``, for the data card). Its
``Kind`` says how the value travels through Python and how each format writes it.
``export_row_class`` derives the rest from the columns: the row query's columns, the JSONL line
PostgreSQL builds, ``RowEncoder``'s loading, the JSONL, CSV and Parquet encoders, the Parquet
schema, and the field list of the manifest and the data card. Adding a field to every format is
one ``Column`` in ``ROW``.

The encoders are compiled from the kinds' expression templates into plain methods, as
``dataclasses`` does for ``__init__``: a million rows go through them, and a loop over columns
with a call per cell would cost more than writing the file.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from types import MethodType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Cast, Concat

from reviewapp.core.spreadsheets import neutralise_formula
from reviewapp.learn.datasets.jsontext import Encoded, compact_json, encode, jsonb_key, jsonb_text
from reviewapp.learn.datasets.protection import hmac_hex16, protect_input, protected_input_sql
from reviewapp.learn.datasets.splits import SplitOf, split_of_hash
from reviewapp.learn.datasets.sqltext import IsoFormatUTC, SqlText
from reviewapp.review.corrections.services import reviewer_pseudonym_of

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Kind:
    """How a column's values travel through Python and into each format.

    Each template is a Python expression: ``$v`` is the value on the row, ``$key`` the column's
    name as a literal, ``$0``, ``$1``... the values the column selects from the database.
    """

    load: str  # RowEncoder: the value, from the selected values (self is the encoder)
    from_dict: str  # ExportRow.from_dict: the value, from the row dict ``row``
    plain: str  # ExportRow.as_dict: the plain JSON value
    jsonl: str  # its jsonb text, as a part of an f-string
    csv: str  # its CSV cell
    parquet: str  # its Parquet value
    parquet_type: Callable[[Any], Any]  # pyarrow module -> the Parquet type
    line_sql: str  # its jsonb text in SQL, around the column's ``line`` expression


INTEGER = Kind(
    load="$0",
    from_dict="row[$key]",
    plain="$v",
    jsonl="{int($v)}",
    csv="str($v)",
    parquet="$v",
    parquet_type=lambda pa: pa.int64(),
    line_sql="({})::text",
)
# A JSON value read and serialised per row (it differs in every row). In cells, objects and
# lists are JSON text, which starts with "{" or "[" and never needs the formula guard.
JSON_PER_ROW = Kind(
    load="loads($0)",
    from_dict="row[$key]",
    plain="$v",
    jsonl="{jsonb_text($v)}",
    csv="(compact_json($v) if isinstance($v, NESTED) else neutralise_formula(str($v)))",
    parquet="compact_json($v)",
    parquet_type=lambda pa: pa.string(),
    line_sql="({})::text",
)
# A JSON value that repeats across rows: parsed and serialised once per distinct text.
JSON = Kind(
    load="(known_json($0) or self.new_json($0))",
    from_dict="encode(row[$key])",
    plain="$v.value",
    jsonl="{$v.jsonb}",
    csv="json_cell($v)",
    parquet="$v.compact",
    parquet_type=lambda pa: pa.string(),
    line_sql="({})::text",
)
# A JSON value that is usually null: an empty cell, a null in Parquet.
OPTIONAL_JSON = Kind(
    load="(known_json($0) or self.new_json($0))",
    from_dict="encode(row.get($key))",
    plain="$v.value",
    jsonl="{$v.jsonb}",
    csv='("" if $v.value is None else $v.compact)',
    parquet="(None if $v.value is None else $v.compact)",
    parquet_type=lambda pa: pa.string(),
    line_sql="{}",  # the line expression is jsonb text already
)
# A list of names: ";"-joined in a cell, a list in Parquet.
NAME_LIST = Kind(
    load="(known_json($0) or self.new_json($0))",
    from_dict="encode(row[$key])",
    plain="$v.value",
    jsonl="{$v.jsonb}",
    csv='";".join($v.value)',
    parquet="$v.value",
    parquet_type=lambda pa: pa.list_(pa.string()),
    line_sql="({})::text",
)
# Text that repeats across rows (comments, models, reviewers): encoded once per distinct text.
TEXT = Kind(
    load="(known_text($0) or self.new_text($0))",
    from_dict="encode(row[$key])",
    plain="$v.value",
    jsonl="{$v.jsonb}",
    csv="str($v.value)",
    parquet="$v.value",
    parquet_type=lambda pa: pa.string(),
    line_sql="to_json({})::text",
)
# Text that never needs JSON escaping (ISO times, split names): written as it is.
PLAIN_TEXT = Kind(
    load="$0",
    from_dict="row[$key]",
    plain="$v",
    jsonl='"{$v}"',
    csv="$v",
    parquet="$v",
    parquet_type=lambda pa: pa.string(),
    line_sql="'\"' || {} || '\"'",
)


@dataclass(frozen=True)
class Column:
    """One field of the exported row."""

    name: str
    kind: Kind
    note: str  # what the field means, for the data card
    # What the row query reads for it: (name in the query, expression), in order; no
    # expression means the Correction field of that name.
    select: tuple[tuple[str, Any], ...]
    # Its value in SQL for the JSONL line PostgreSQL builds, given the sensitive fields; None
    # for a row type whose lines are written from rows in Python (``PREFERENCE_ROW``).
    line: Callable[[dict[str, str]], Any] | None
    load: str | None = None  # instead of the kind's, when the value is made from several
    # A text cell a spreadsheet would run as a formula if it started like one.
    neutralised: bool = False


def _correction(name: str) -> Callable[[dict[str, str]], Any]:
    return lambda sensitive: F(name)


def _as_text(field: str) -> Cast:
    return Cast(field, TextField())


DISAGREED = "disagreed"  # FourEyesStatus.DISAGREED
NO_DISAGREEMENT = encode(None)
PAIR = ("first_task", "second_task")


def _pair_select() -> tuple[tuple[str, Any], ...]:
    """What a four-eyes review's disagreement is made of: its status, then each answer."""
    columns: list[tuple[str, Any]] = [("four_eyes_status", F("four_eyes__status"))]
    for task in PAIR:
        decision = f"four_eyes__{task}__decision"
        columns += [
            (f"{task}_outcome", F(f"{decision}__outcome")),
            (f"{task}_output_json", _as_text(f"{decision}__output")),
            (f"{task}_reviewer", F(f"{decision}__reviewer")),
        ]
    return tuple(columns)


def _disagreement_sql(sensitive: dict[str, str]) -> SqlText:
    """``RowEncoder.pair_answers`` as jsonb text: the pair's answers when they disagreed."""
    answers = []
    for task in PAIR:
        decision = f"four_eyes__{task}__decision"
        answers.append(
            SqlText(
                "jsonb_build_object('outcome', {}, 'output', {}, 'reviewer', {})",
                F(f"{decision}__outcome"),
                F(f"{decision}__output"),
                # reviewer_pseudonym_of(reviewer id)
                hmac_hex16(SqlText("'reviewer:' || ({})::text", F(f"{decision}__reviewer"))),
            )
        )
    return SqlText(
        "CASE WHEN {} = 'disagreed' THEN "
        "jsonb_build_object('answers', jsonb_build_array({}, {}))::text ELSE 'null' END",
        F("four_eyes__status"),
        *answers,
    )


# JSON arrives from the database as text: the input is parsed per row, the other values once
# per distinct text (see RowEncoder).
ROW = (
    Column(
        "item_id",
        INTEGER,
        "id of the item in reviewapp",
        select=(("item_id", None),),
        line=_correction("item_id"),
    ),
    Column(
        "input",
        JSON_PER_ROW,
        "the item's input as submitted (sensitive fields redacted or pseudonymised)",
        select=(("input_json", _as_text("input")),),
        line=protected_input_sql,
        load="(protect_input(loads($0), self.sensitive) if self.sensitive else loads($0))",
    ),
    Column(
        "model_output",
        JSON,
        "what the model answered",
        select=(("model_output_json", _as_text("model_output")),),
        line=_correction("model_output"),
    ),
    Column(
        "human_output",
        JSON,
        "what the reviewer decided instead (the label to learn)",
        select=(("human_output_json", _as_text("human_output")),),
        line=_correction("human_output"),
    ),
    Column(
        "diff",
        JSON,
        "field-level changes from model_output to human_output",
        select=(("diff_json", _as_text("diff")),),
        line=_correction("diff"),
    ),
    Column(
        "reason_codes",
        NAME_LIST,
        "why the reviewer changed or refused the output (workflow taxonomy)",
        select=(("reason_codes_json", _as_text("reason_codes")),),
        line=_correction("reason_codes"),
        neutralised=True,
    ),
    Column(
        "comment",
        TEXT,
        "the reviewer's free-text comment",
        select=(("comment", None),),
        line=_correction("comment"),
        neutralised=True,
    ),
    Column(
        "model_version",
        TEXT,
        "the model (name@version) that produced model_output",
        select=(("model_version", None),),
        line=_correction("model_version"),
        neutralised=True,
    ),
    Column(
        "reviewer",
        TEXT,
        "pseudonymous reviewer id, stable per deployment",
        select=(("reviewer_pseudonym", None),),
        line=_correction("reviewer_pseudonym"),
        neutralised=True,
    ),
    Column(
        "corrected_at",
        PLAIN_TEXT,
        "when the decision was made (ISO 8601)",
        select=(("corrected_at", IsoFormatUTC("created_at")),),
        line=lambda sensitive: IsoFormatUTC("created_at"),
        neutralised=True,
    ),
    Column(
        "split",
        PLAIN_TEXT,
        "train / validation / test, 80/10/10 by SHA-256 of the canonical input",
        # Split by the raw input, so redaction never moves a row between splits.
        select=(("input_hash", None),),
        line=lambda sensitive: SplitOf("input_hash"),
        load="split_of_hash($0)",
    ),
    Column(
        "disagreement",
        OPTIONAL_JSON,
        "empty, or the two independent answers of a four-eyes review that disagreed"
        " (outcome, output, pseudonymous reviewer); human_output is then the senior's answer",
        select=_pair_select(),
        line=_disagreement_sql,
        load="(self.pair_answers($1, $2, $3, $4, $5, $6) if $0 == DISAGREED else NO_DISAGREEMENT)",
    ),
)
# Read beside the row, for the manifest's counts: the workflow version of the row's item.
VERSION_SELECT = ("workflow_version_number", F("workflow_version__number"))


class EncodedRow:
    """One labeled example on its way into a file, in the shape each writer needs.

    Exports serialise a million rows; re-encoding a whole dict per row (and per format) was the
    cost. Values that repeat across rows arrive as shared ``Encoded`` objects from
    ``RowEncoder``'s cache, so only per-row values are serialised per row, and the writers
    assemble lines from ready-made texts. The bytes are those of ``json.dumps`` on the row dict
    (``exporters.jsonl_line``, ``label_studio_task``): tests compare them.
    """

    __slots__ = ()
    COLUMNS: ClassVar[tuple[Column, ...]]
    FIELDS: ClassVar[tuple[str, ...]]
    # (encoder, values from the row query) -> (row, workflow version number); see RowEncoder.
    load_values: ClassVar[Callable[..., tuple["EncodedRow", int | None]]]

    if TYPE_CHECKING:  # compiled by export_row_class

        def __init__(self, *values: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

        @classmethod
        def from_dict(cls, row: dict) -> Self: ...

        def as_dict(self) -> dict: ...

        def jsonl(self) -> str: ...

        def csv_cells(self) -> list[str]: ...

        def parquet_values(self) -> tuple: ...

    @classmethod
    def selected(cls) -> list[tuple[str, Any]]:
        """What the row query reads, in the order ``load_values`` takes it."""
        return [pair for column in cls.COLUMNS for pair in column.select] + [VERSION_SELECT]

    @classmethod
    def parquet_schema(cls) -> "pa.Schema":
        import pyarrow as pa  # heavy import, only needed when writing Parquet

        return pa.schema([(column.name, column.kind.parquet_type(pa)) for column in cls.COLUMNS])

    @classmethod
    def line_sql(cls, sensitive: dict[str, str]) -> SqlText:
        """``jsonl`` in SQL: the row as jsonb text, keys in jsonb's order."""
        order = sorted(cls.COLUMNS, key=lambda column: jsonb_key(column.name))
        parts = []
        if any(column.line is None for column in order):
            raise ValueError(f"{cls.__name__} lines are written from rows, not by the database")
        for n, column in enumerate(order):
            opening = ", " if n else "{{"  # "{{" is "{" once SqlText has filled in the places
            parts.append(f"'{opening}\"{column.name}\": ' || {column.kind.line_sql}")
        return SqlText(
            " || ".join(parts) + " || '}}'",
            *(column.line(sensitive) for column in order if column.line is not None),
        )


def _json_cell(value: Encoded) -> str:
    if isinstance(value.value, NESTED):
        return value.compact
    return neutralise_formula(str(value.value))


NESTED = (dict, list)
_COMPILED = {
    "loads": json.loads,
    "protect_input": protect_input,
    "split_of_hash": split_of_hash,
    "neutralise_formula": neutralise_formula,
    "compact_json": compact_json,
    "jsonb_text": jsonb_text,
    "encode": encode,
    "json_cell": _json_cell,
    "NESTED": NESTED,
    "DISAGREED": DISAGREED,
    "NO_DISAGREEMENT": NO_DISAGREEMENT,
    "reviewer_pseudonym_of": reviewer_pseudonym_of,
}


def _filled(template: str, column: Column, selected: tuple[str, ...] = ()) -> str:
    text = template.replace("$v", f"self.{column.name}").replace("$key", repr(column.name))
    for n in reversed(range(len(selected))):  # $10 before $1
        text = text.replace(f"${n}", selected[n])
    return text


def export_row_class(columns: tuple[Column, ...], name: str = "ExportRow") -> type[EncodedRow]:
    """The row class of ``columns``, its encoders compiled from the columns' kinds."""
    fields = tuple(column.name for column in columns)
    selected = [alias for column in columns for alias, _ in column.select]
    taken = {*_COMPILED, "self", "row", "values", "known_json", "known_text"}
    names = [*fields, *selected, VERSION_SELECT[0]]
    if len(set(fields)) < len(fields) or len(set(selected)) < len(selected):
        raise ValueError("column names and selected names must be unique")
    if not all(n.isidentifier() and n.islower() and n not in taken for n in names):
        raise ValueError("column and selected names are lowercase identifiers of their own")
    loads, cells = [], []
    for column in columns:
        aliases = tuple(alias for alias, _ in column.select)
        loads.append(_filled(column.load or column.kind.load, column, aliases))
        cell = _filled(column.kind.csv, column)
        cells.append(f"neutralise_formula({cell})" if column.neutralised else cell)
    by_key = sorted(columns, key=lambda column: jsonb_key(column.name))
    line = ", ".join(f'"{c.name}": {_filled(c.kind.jsonl, c)}' for c in by_key)
    source = "\n".join(
        [
            f"def __init__(self, {', '.join(fields)}):",
            *[f"    self.{field} = {field}" for field in fields],
            "def from_dict(cls, row):",
            f"    return cls({', '.join(_filled(c.kind.from_dict, c) for c in columns)})",
            "def as_dict(self):",
            "    return {"
            + ", ".join(f"{c.name!r}: {_filled(c.kind.plain, c)}" for c in columns)
            + "}",
            "def jsonl(self):",
            f"    return f'''{{{{{line}}}}}'''",
            "def csv_cells(self):",
            f"    return [{', '.join(cells)}]",
            "def parquet_values(self):",
            f"    return ({', '.join(_filled(c.kind.parquet, c) for c in columns)},)",
            "def load_values(self, values):",
            f"    {', '.join([*selected, VERSION_SELECT[0]])} = values",
            # Hot loop: plain dict lookups (an Encoded is a non-empty tuple, so never falsy).
            "    known_json, known_text = self.json.get, self.text.get",
            f"    return Row({', '.join(loads)}), {VERSION_SELECT[0]}",
        ]
    )
    namespace: dict[str, Any] = dict(_COMPILED)
    # The source is made of this module's templates and the columns' names, checked above.
    exec(compile(source, f"<export row {name}>", "exec"), namespace)  # noqa: S102
    row_class = type(
        name,
        (EncodedRow,),
        {
            "__slots__": fields,
            "__doc__": EncodedRow.__doc__,
            "__module__": __name__,
            "COLUMNS": columns,
            "FIELDS": fields,
            "__init__": namespace["__init__"],
            "from_dict": classmethod(namespace["from_dict"]),
            "as_dict": namespace["as_dict"],
            "jsonl": namespace["jsonl"],
            "csv_cells": namespace["csv_cells"],
            "parquet_values": namespace["parquet_values"],
            "load_values": staticmethod(namespace["load_values"]),
        },
    )
    namespace["Row"] = row_class
    return row_class


ExportRow = export_row_class(ROW)
EXPORT_FIELDS = ExportRow.FIELDS


def _by_preference(chosen: bool, candidate: Any, champion: Any, output_field=None) -> Case:
    """The chosen (or the rejected) side's value of a comparison: the candidate's or the
    champion's, by what the reviewer preferred (``pairwise.Preferred``)."""
    first, second = (candidate, champion) if chosen else (champion, candidate)
    return Case(When(preferred="candidate", then=first), default=second, output_field=output_field)


def _model_name(side: str) -> Concat:
    return Concat(F(f"{side}__name"), Value("@"), F(f"{side}__version"), output_field=TextField())


# The preference dataset's row: one decisive pairwise comparison (reviewapp.review.pairwise) as
# prompt / chosen / rejected with its lineage. Selected from Comparison rows; ties are not rows.
PREFERENCE_ROW = (
    Column(
        "task_id",
        INTEGER,
        "id of the pairwise review task in reviewapp",
        select=(("pref_task_id", F("task_id")),),
        line=None,
    ),
    Column(
        "item_id",
        INTEGER,
        "id of the item whose input both models answered",
        select=(("pref_item_id", F("item_id")),),
        line=None,
    ),
    Column(
        "prompt",
        JSON_PER_ROW,
        "the item's input as submitted (sensitive fields redacted or pseudonymised)",
        select=(("prompt_json", _as_text("item__input")),),
        line=None,
        load="(protect_input(loads($0), self.sensitive) if self.sensitive else loads($0))",
    ),
    Column(
        "chosen",
        JSON,
        "the output the reviewer preferred",
        select=(
            (
                "chosen_json",
                _by_preference(
                    True, _as_text("candidate_output"), _as_text("champion_output"), TextField()
                ),
            ),
        ),
        line=None,
    ),
    Column(
        "rejected",
        JSON,
        "the other output of the comparison",
        select=(
            (
                "rejected_json",
                _by_preference(
                    False, _as_text("candidate_output"), _as_text("champion_output"), TextField()
                ),
            ),
        ),
        line=None,
    ),
    Column(
        "chosen_model",
        TEXT,
        "the model (name@version) that produced chosen",
        select=(
            (
                "chosen_model_name",
                _by_preference(True, _model_name("candidate"), _model_name("champion")),
            ),
        ),
        line=None,
        neutralised=True,
    ),
    Column(
        "rejected_model",
        TEXT,
        "the model (name@version) that produced rejected",
        select=(
            (
                "rejected_model_name",
                _by_preference(False, _model_name("candidate"), _model_name("champion")),
            ),
        ),
        line=None,
        neutralised=True,
    ),
    Column(
        "chosen_role",
        PLAIN_TEXT,
        "candidate (the shadow or canary model) or champion (the serving model): which won",
        select=(("chosen_role_name", F("preferred")),),
        line=None,
    ),
    Column(
        "reason",
        TEXT,
        "why the reviewer preferred it, in their words",
        select=(("pref_reason", F("reason")),),
        line=None,
        neutralised=True,
    ),
    Column(
        "reviewer",
        TEXT,
        "pseudonymous reviewer id, stable per deployment",
        select=(("pref_reviewer_id", F("reviewer_id")),),
        line=None,
        load="encode(reviewer_pseudonym_of($0))",
        neutralised=True,
    ),
    Column(
        "decided_at",
        PLAIN_TEXT,
        "when the reviewer decided (ISO 8601)",
        select=(("pref_decided_at", IsoFormatUTC("decided_at")),),
        line=None,
        neutralised=True,
    ),
    Column(
        "split",
        PLAIN_TEXT,
        "train / validation / test, 80/10/10 by SHA-256 of the canonical input",
        select=(("pref_input_hash", F("input_hash")),),
        line=None,
        load="split_of_hash($0)",
    ),
)
PreferenceRow = export_row_class(PREFERENCE_ROW, "PreferenceRow")
# Read beside a preference row: the workflow version of the compared item.
PREFERENCE_VERSION = F("item__workflow_version__number")
# Columns whose cells hold JSON text, which readers parse back.
JSON_COLUMNS = tuple(c.name for c in ROW if c.kind in (JSON_PER_ROW, JSON))


class RowEncoder:
    """Turns rows of the row query into ``row_type`` rows, for one export.

    Built once per export: the redaction plan is fixed, and values that repeat across rows
    (outputs, diffs, reason codes, comments, reviewers, models) are parsed and serialised once,
    keyed by their database text. The caches are bounded so memory stays flat in N.
    """

    CACHE_LIMIT = 20_000

    def __init__(self, sensitive: dict[str, str], row_type: type[EncodedRow] = ExportRow) -> None:
        self.sensitive = sensitive
        self.json: dict[str, Encoded] = {}
        self.text: dict[str, Encoded] = {}
        # The row and the workflow version number of its item.
        self.row: Callable[[tuple], tuple[EncodedRow, int | None]] = MethodType(
            row_type.load_values, self
        )

    def new_json(self, text: str) -> Encoded:
        if len(self.json) >= self.CACHE_LIMIT:
            self.json.clear()
        found = self.json[text] = encode(json.loads(text))
        return found

    def new_text(self, text: str) -> Encoded:
        if len(self.text) >= self.CACHE_LIMIT:
            self.text.clear()
        found = self.text[text] = encode(text)
        return found

    @staticmethod
    def pair_answers(
        first_outcome, first_output, first_reviewer, second_outcome, second_output, second_reviewer
    ) -> Encoded:
        """The disagreement of a four-eyes review: both answers."""
        return encode(
            {
                "answers": [
                    {
                        "outcome": outcome,
                        "output": json.loads(output),
                        "reviewer": reviewer_pseudonym_of(reviewer),
                    }
                    for outcome, output, reviewer in (
                        (first_outcome, first_output, first_reviewer),
                        (second_outcome, second_output, second_reviewer),
                    )
                ]
            }
        )
