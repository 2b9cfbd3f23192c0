"""Writers for each export format. All stream: memory stays flat whatever the row count.

Each writer takes ``ExportRow``s (``RowEncoder`` makes them from database rows,
``ExportRow.from_dict`` from a row dict) and a binary file handle, and writes a byte-for-byte
stable file: keys sorted, no timestamps of its own.
"""

import csv
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

from reviewapp.core.spreadsheets import neutralise_formula

# A cell that starts with one of these is run as a formula by spreadsheet programs.
EXPORT_FIELDS = (
    "item_id",
    "input",
    "model_output",
    "human_output",
    "diff",
    "reason_codes",
    "comment",
    "model_version",
    "reviewer",
    "corrected_at",
    "split",
    "disagreement",
)
PARQUET_BATCH = 5000


def _encoder(*, item_separator: str, key_separator: str) -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=...)``, made once.

    ``json.dumps`` builds a new encoder on every call, which costs more than encoding a small
    row; this is the same C encoder ``json.dumps`` uses, built once per process.
    """
    make = getattr(json.encoder, "c_make_encoder", None)  # private, so not in the type stubs
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        encoder = json.JSONEncoder(
            sort_keys=True, ensure_ascii=False, separators=(item_separator, key_separator)
        )
        return encoder.encode

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    iterencode = make(
        None,  # no circular-reference check: values come from JSON, which cannot loop
        default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,
        key_separator,
        item_separator,
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    return lambda value: "".join(iterencode(value, 0))


# Compact: CSV and Parquet cells, Label Studio tasks, the split hash.
compact_json = _json = _encoder(item_separator=",", key_separator=":")
_string = json.encoder.encode_basestring  # ensure_ascii=False; PostgreSQL escapes the same set


def jsonb_key(key: str) -> tuple[int, bytes]:
    """Where jsonb puts an object's key: shortest first, then by UTF-8 bytes."""
    encoded = key.encode()
    return len(encoded), encoded


def _jsonb_number(value: float) -> str:
    # jsonb keeps a number as numeric, which PostgreSQL never prints with an exponent:
    # 1.5e-07 comes back as 0.00000015. repr() is the text json.dumps stored.
    text = format(Decimal(repr(value)), "f")
    return text.removeprefix("-") if value == 0 else text  # numeric has no negative zero


def jsonb_text(value: Any) -> str:
    """``value`` as PostgreSQL prints it as jsonb (``value::jsonb::text``): keys shortest first,
    then by their UTF-8 bytes; ", " and ": " between items; text as is, not escaped to ASCII.

    The JSONL of an export is this text, built by PostgreSQL on the fast path and here on
    SQLite (and for tests); both must give the same bytes.
    """
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _jsonb_number(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: jsonb_key(item[0]))
        return "{" + ", ".join(f"{_string(k)}: {jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def jsonl_line(row: dict) -> bytes:
    """The definition of a JSONL line: the row as jsonb text. ``ExportRow.jsonl`` and the
    database (``specs.JSONL_LINE``) assemble the same bytes from pieces."""
    return (jsonb_text(row) + "\n").encode()


class Encoded(NamedTuple):
    """A value with its two JSON texts (compact for cells, jsonb text for JSONL), made once."""

    value: Any
    compact: str
    jsonb: str


def encode(value: Any) -> Encoded:
    return Encoded(value, _json(value), jsonb_text(value))


class ExportRow:
    """One labeled example on its way into a file, in the shape each writer needs.

    Exports serialise a million rows; re-encoding a whole dict per row (and per format) was the
    cost. Values that repeat across rows (outputs, diffs, reason codes, reviewer, model) arrive
    as shared ``Encoded`` objects from ``RowEncoder``'s cache, so only the input is serialised
    per row, and the writers assemble lines from ready-made texts. The bytes are those of
    ``json.dumps`` on the row dict (``jsonl_line``, ``label_studio_task``): tests compare them.
    """

    __slots__ = (
        "comment",
        "corrected_at",
        "diff",
        "disagreement",
        "human_output",
        "input",
        "input_compact",
        "item_id",
        "model_output",
        "model_version",
        "reason_codes",
        "reviewer",
        "split",
    )

    def __init__(
        self,
        item_id: int,
        input: dict,
        model_output: Encoded,
        human_output: Encoded,
        diff: Encoded,
        reason_codes: Encoded,
        comment: Encoded,
        model_version: Encoded,
        reviewer: Encoded,
        corrected_at: str,
        split: str,
        disagreement: Encoded,
    ) -> None:
        self.item_id = item_id
        self.input = input
        self.input_compact: str | None = None  # made on first use (CSV and Parquet cells)
        self.model_output = model_output
        self.human_output = human_output
        self.diff = diff
        self.reason_codes = reason_codes
        self.comment = comment
        self.model_version = model_version
        self.reviewer = reviewer
        self.corrected_at = corrected_at
        self.split = split
        # None, or the two answers of a four-eyes review that disagreed (human_output is the
        # senior reviewer's settling answer): {"answers": [{outcome, output, reviewer}, ...]}.
        self.disagreement = disagreement

    @classmethod
    def from_dict(cls, row: dict) -> "ExportRow":
        return cls(
            item_id=row["item_id"],
            input=row["input"],
            model_output=encode(row["model_output"]),
            human_output=encode(row["human_output"]),
            diff=encode(row["diff"]),
            reason_codes=encode(row["reason_codes"]),
            comment=encode(row["comment"]),
            model_version=encode(row["model_version"]),
            reviewer=encode(row["reviewer"]),
            corrected_at=row["corrected_at"],
            split=row["split"],
            disagreement=encode(row.get("disagreement")),
        )

    def as_dict(self) -> dict:
        return {
            "item_id": self.item_id,
            "input": self.input,
            "model_output": self.model_output.value,
            "human_output": self.human_output.value,
            "diff": self.diff.value,
            "reason_codes": self.reason_codes.value,
            "comment": self.comment.value,
            "model_version": self.model_version.value,
            "reviewer": self.reviewer.value,
            "corrected_at": self.corrected_at,
            "split": self.split,
            "disagreement": self.disagreement.value,
        }

    def compact_input(self) -> str:
        if self.input_compact is None:
            self.input_compact = _json(self.input)
        return self.input_compact

    def jsonl(self) -> str:
        # jsonb's key order (shortest first); ISO times and split names never need escaping.
        return (
            f'{{"diff": {self.diff.jsonb}, "input": {jsonb_text(self.input)}, '
            f'"split": "{self.split}", "comment": {self.comment.jsonb}, '
            f'"item_id": {int(self.item_id)}, "reviewer": {self.reviewer.jsonb}, '
            f'"corrected_at": "{self.corrected_at}", "disagreement": {self.disagreement.jsonb}, '
            f'"human_output": {self.human_output.jsonb}, '
            f'"model_output": {self.model_output.jsonb}, '
            f'"reason_codes": {self.reason_codes.jsonb}, '
            f'"model_version": {self.model_version.jsonb}}}'
        )

    def csv_cells(self) -> list[str]:
        # Same order as EXPORT_FIELDS. Objects and lists are JSON text, which starts with "{"
        # or "[" and never needs the formula guard; every other cell gets it.
        return [
            str(self.item_id),
            self.compact_input() if isinstance(self.input, dict | list) else _cell(self.input),
            _json_cell(self.model_output),
            _json_cell(self.human_output),
            _json_cell(self.diff),
            neutralise_formula(";".join(self.reason_codes.value)),
            neutralise_formula(str(self.comment.value)),
            neutralise_formula(str(self.model_version.value)),
            neutralise_formula(str(self.reviewer.value)),
            neutralise_formula(self.corrected_at),
            self.split,
            "" if self.disagreement.value is None else self.disagreement.compact,
        ]


def _cell(value: Any) -> str:
    return neutralise_formula(str(value))


def _json_cell(value: Encoded) -> str:
    return value.compact if isinstance(value.value, dict | list) else _cell(value.value)


# JSONL and the Hugging Face folder are written from lines: (split, tally key, JSON text),
# which PostgreSQL builds on its own (see specs.spec_lines_counted), in lists as fetched.
Line = tuple[str, str, str]
LINE_FORMATS = ("jsonl", "hf_dataset")
_text_of = itemgetter(2)


def write_jsonl(chunks: Iterable[list[Line]], handle: BinaryIO) -> Iterator[int]:
    count = 0
    for lines in chunks:
        handle.write(("\n".join(map(_text_of, lines)) + "\n").encode())
        count += len(lines)
        yield count


def write_csv(rows: Iterable[ExportRow], handle: BinaryIO) -> Iterator[int]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row.csv_cells())
        yield count
    text.detach()  # leave the handle open for the caller


@cache
def parquet_schema() -> "pa.Schema":
    import pyarrow as pa  # heavy import, only needed when writing Parquet

    return pa.schema(
        [
            ("item_id", pa.int64()),
            ("input", pa.string()),
            ("model_output", pa.string()),
            ("human_output", pa.string()),
            ("diff", pa.string()),
            ("reason_codes", pa.list_(pa.string())),
            ("comment", pa.string()),
            ("model_version", pa.string()),
            ("reviewer", pa.string()),
            ("corrected_at", pa.string()),
            ("split", pa.string()),
            ("disagreement", pa.string()),  # JSON text, null when there was none
        ]
    )


JSON_COLUMNS = ("input", "model_output", "human_output", "diff")


def write_parquet(rows: Iterable[ExportRow], handle: BinaryIO) -> Iterator[int]:
    # Nested JSON is stored as JSON text: its shape differs per workflow, and readers
    # (pandas, datasets, DuckDB) parse it back with one call. Rows are gathered column-wise
    # and written as one row group per PARQUET_BATCH rows, so memory stays flat.
    import pyarrow as pa  # heavy imports, only needed here
    import pyarrow.parquet as pq

    schema = parquet_schema()
    writer = pq.ParquetWriter(handle, schema, compression="zstd")
    names = schema.names
    columns: list[list] = [[] for _ in names]
    count = 0
    for count, row in enumerate(rows, start=1):
        for column, value in zip(
            columns,
            (
                row.item_id,
                row.compact_input(),
                row.model_output.compact,
                row.human_output.compact,
                row.diff.compact,
                row.reason_codes.value,
                row.comment.value,
                row.model_version.value,
                row.reviewer.value,
                row.corrected_at,
                row.split,
                None if row.disagreement.value is None else row.disagreement.compact,
            ),
            strict=True,
        ):
            column.append(value)
        if count % PARQUET_BATCH == 0:
            writer.write_table(pa.table(dict(zip(names, columns, strict=True)), schema))
            columns = [[] for _ in names]
        yield count
    if columns[0]:
        writer.write_table(pa.table(dict(zip(names, columns, strict=True)), schema))
    writer.close()


def _choices(output: dict) -> list[dict]:
    return [
        {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [value]}}
        for name, value in sorted(output.items())
    ]


def label_studio_task(row: dict) -> dict:
    """A Label Studio task: the model's output as a prediction, the human's as an annotation."""
    return {
        "data": row["input"] | {"item_id": row["item_id"]},
        # Label Studio keeps ``meta`` with the task without showing it to annotators.
        "meta": {"split": row["split"]}
        | ({} if row.get("disagreement") is None else {"disagreement": row["disagreement"]}),
        "predictions": [
            {"model_version": row["model_version"], "result": _choices(row["model_output"])}
        ],
        "annotations": [
            {
                "result": _choices(row["human_output"]),
                "completed_by": {"pseudonym": row["reviewer"]},
                "created_at": row["corrected_at"],
            }
        ],
    }


_CHOICES_JSON: dict[str, str] = {}


def _choices_json(output: Encoded) -> str:
    # Outputs repeat (one per class); bounded so memory stays flat whatever they hold.
    text = _CHOICES_JSON.get(output.compact)
    if text is None:
        if len(_CHOICES_JSON) >= 4096:
            _CHOICES_JSON.clear()
        text = _CHOICES_JSON[output.compact] = _json(_choices(output.value))
    return text


def label_studio_task_json(row: ExportRow) -> str:
    """``_json(label_studio_task(row))``, with the results of repeated outputs made once."""
    return (
        '{"annotations":[{"completed_by":{"pseudonym":'
        + row.reviewer.compact
        + '},"created_at":"'
        + row.corrected_at
        + '","result":'
        + _choices_json(row.human_output)
        + '}],"data":'
        + _json(row.input | {"item_id": row.item_id})
        + ',"meta":{'
        + ("" if row.disagreement.value is None else f'"disagreement":{row.disagreement.compact},')
        + '"split":"'
        + row.split
        + '"},"predictions":[{"model_version":'
        + row.model_version.compact
        + ',"result":'
        + _choices_json(row.model_output)
        + "}]}"
    )


def write_label_studio(rows: Iterable[ExportRow], handle: BinaryIO) -> Iterator[int]:
    handle.write(b"[")
    count = 0
    for count, row in enumerate(rows, start=1):
        handle.write((b",\n" if count > 1 else b"\n") + label_studio_task_json(row).encode())
        yield count
    handle.write(b"\n]\n")


# Each takes rows (ExportRow), or lines (Line) for LINE_FORMATS, and yields the count so far.
WRITERS: dict[str, Callable[[Iterable[Any], BinaryIO], Iterator[int]]] = {
    "jsonl": write_jsonl,
    "csv": write_csv,
    "parquet": write_parquet,
    "label_studio": write_label_studio,
}
EXTENSIONS = {
    "jsonl": "jsonl",
    "csv": "csv",
    "parquet": "parquet",
    "label_studio": "json",
    "hf_dataset": "zip",
}


# --- Hugging Face datasets folder --------------------------------------------------------------
# The layout `datasets.load_dataset("json", data_dir=...)` and the Hub understand: one JSONL file
# per split under data/, a README.md whose YAML front matter maps files to splits.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep the archive byte-for-byte stable


def write_hf_splits(chunks: Iterable[list[Line]], directory: Path) -> Iterator[int]:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    handles: dict[str, BinaryIO] = {}
    count = 0
    try:
        for lines in chunks:
            by_split: dict[str, list[str]] = {}
            for split, _key, text in lines:
                by_split.setdefault(split, []).append(text)
            for split, texts in by_split.items():
                handle = handles.get(split)
                if handle is None:
                    handle = handles[split] = (data / f"{split}.jsonl").open("wb")
                handle.write(("\n".join(texts) + "\n").encode())
            count += len(lines)
            yield count
    finally:
        for handle in handles.values():
            handle.close()


def hf_front_matter(splits: Iterable[str]) -> str:
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: data/{split}.jsonl"]
    return "\n".join([*lines, "---", ""])


def zip_folder(directory: Path, names: Iterable[str], target: BinaryIO) -> None:
    """Zip ``names`` (relative to ``directory``) into ``target``, copying in blocks."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with (directory / name).open("rb") as source, archive.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
