"""Writers for each export format. All stream: memory stays flat whatever the row count.

Each writer takes rows (``RowEncoder`` makes them from database rows, ``ExportRow.from_dict``
from a row dict; their columns are ``row.ROW``) and a binary file handle, and writes a
byte-for-byte stable file: keys sorted, no timestamps of its own.
"""

import csv
import io
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from reviewapp.learn.datasets.jsontext import Encoded, compact_json, jsonb_text
from reviewapp.learn.datasets.row import EncodedRow, ExportRow

PARQUET_BATCH = 5000


def jsonl_line(row: dict) -> bytes:
    """The definition of a JSONL line: the row as jsonb text. ``ExportRow.jsonl`` and the
    database (``ExportRow.line_sql``) assemble the same bytes from pieces."""
    return (jsonb_text(row) + "\n").encode()


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


def write_rows_jsonl(rows: Iterable[EncodedRow], handle: BinaryIO) -> Iterator[int]:
    """JSONL from rows made in Python (preference pairs), the same bytes as ``jsonl_line``."""
    count = 0
    for count, row in enumerate(rows, start=1):
        handle.write((row.jsonl() + "\n").encode())
        yield count


def write_csv(
    rows: Iterable[EncodedRow], handle: BinaryIO, row_type: type[EncodedRow] = ExportRow
) -> Iterator[int]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(row_type.FIELDS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row.csv_cells())
        yield count
    text.detach()  # leave the handle open for the caller


def write_parquet(
    rows: Iterable[EncodedRow], handle: BinaryIO, row_type: type[EncodedRow] = ExportRow
) -> Iterator[int]:
    # Nested JSON is stored as JSON text: its shape differs per workflow, and readers
    # (pandas, datasets, DuckDB) parse it back with one call. Rows are gathered column-wise
    # and written as one row group per PARQUET_BATCH rows, so memory stays flat.
    import pyarrow as pa  # heavy imports, only needed here
    import pyarrow.parquet as pq

    schema = row_type.parquet_schema()
    writer = pq.ParquetWriter(handle, schema, compression="zstd")
    names = schema.names
    columns: list[list] = [[] for _ in names]
    count = 0
    for count, row in enumerate(rows, start=1):
        for column, value in zip(columns, row.parquet_values(), strict=True):
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
        text = _CHOICES_JSON[output.compact] = compact_json(_choices(output.value))
    return text


def label_studio_task_json(row: EncodedRow) -> str:
    """``label_studio_task`` as compact JSON, the results of repeated outputs made once."""
    return (
        '{"annotations":[{"completed_by":{"pseudonym":'
        + row.reviewer.compact
        + '},"created_at":"'
        + row.corrected_at
        + '","result":'
        + _choices_json(row.human_output)
        + '}],"data":'
        + compact_json(row.input | {"item_id": row.item_id})
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


def write_label_studio(rows: Iterable[EncodedRow], handle: BinaryIO) -> Iterator[int]:
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
    "preference_jsonl": write_rows_jsonl,
}
EXTENSIONS = {
    "jsonl": "jsonl",
    "csv": "csv",
    "parquet": "parquet",
    "label_studio": "json",
    "hf_dataset": "zip",
    "preference_jsonl": "jsonl",
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
