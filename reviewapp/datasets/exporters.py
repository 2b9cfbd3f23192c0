"""Writers for each export format. All stream: memory stays flat whatever the row count.

Each writer takes rows (``dict`` as built by ``correction_row``) and a binary file handle, and
writes a byte-for-byte stable file: keys sorted, no timestamps of its own.
"""

import csv
import io
import json
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

# A cell that starts with one of these is run as a formula by spreadsheet programs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
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
)
PARQUET_BATCH = 5000


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def neutralise_formula(value: str) -> str:
    """Make a cell inert in Excel, LibreOffice and Sheets by prefixing a quote (OWASP advice)."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def jsonl_line(row: dict) -> bytes:
    return (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode()


def write_jsonl(rows: Iterable[dict], handle: BinaryIO) -> Iterator[int]:
    for count, row in enumerate(rows, start=1):
        handle.write(jsonl_line(row))
        yield count


def _csv_cells(row: dict) -> list[str]:
    cells = []
    for column in EXPORT_FIELDS:
        value = row[column]
        if column == "reason_codes":
            text = ";".join(value)
        elif isinstance(value, dict | list):
            text = _json(value)
        else:
            text = str(value)
        cells.append(neutralise_formula(text))
    return cells


def write_csv(rows: Iterable[dict], handle: BinaryIO) -> Iterator[int]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_csv_cells(row))
        yield count
    text.detach()  # leave the handle open for the caller


PARQUET_SCHEMA = pa.schema(
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
    ]
)
JSON_COLUMNS = ("input", "model_output", "human_output", "diff")


def write_parquet(rows: Iterable[dict], handle: BinaryIO) -> Iterator[int]:
    # Nested JSON is stored as JSON text: its shape differs per workflow, and readers
    # (pandas, datasets, DuckDB) parse it back with one call.
    writer = pq.ParquetWriter(handle, PARQUET_SCHEMA, compression="zstd")
    batch: dict[str, list] = {name: [] for name in PARQUET_SCHEMA.names}
    for count, row in enumerate(rows, start=1):
        for name in PARQUET_SCHEMA.names:
            value = row[name]
            batch[name].append(_json(value) if name in JSON_COLUMNS else value)
        if count % PARQUET_BATCH == 0:
            writer.write_table(pa.table(batch, schema=PARQUET_SCHEMA))
            batch = {name: [] for name in PARQUET_SCHEMA.names}
        yield count
    if batch["item_id"]:
        writer.write_table(pa.table(batch, schema=PARQUET_SCHEMA))
    writer.close()


def label_studio_task(row: dict) -> dict:
    """A Label Studio task: the model's output as a prediction, the human's as an annotation."""

    def choices(output: dict) -> list[dict]:
        return [
            {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [value]}}
            for name, value in sorted(output.items())
        ]

    return {
        "data": row["input"] | {"item_id": row["item_id"]},
        # Label Studio keeps ``meta`` with the task without showing it to annotators.
        "meta": {"split": row["split"]},
        "predictions": [
            {"model_version": row["model_version"], "result": choices(row["model_output"])}
        ],
        "annotations": [
            {
                "result": choices(row["human_output"]),
                "completed_by": {"pseudonym": row["reviewer"]},
                "created_at": row["corrected_at"],
            }
        ],
    }


def write_label_studio(rows: Iterable[dict], handle: BinaryIO) -> Iterator[int]:
    handle.write(b"[")
    count = 0
    for count, row in enumerate(rows, start=1):
        handle.write((b",\n" if count > 1 else b"\n") + _json(label_studio_task(row)).encode())
        yield count
    handle.write(b"\n]\n")


WRITERS = {
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


def write_hf_splits(rows: Iterable[dict], directory: Path) -> Iterator[int]:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    handles: dict[str, BinaryIO] = {}
    try:
        for count, row in enumerate(rows, start=1):
            handle = handles.get(row["split"])
            if handle is None:
                handle = handles[row["split"]] = (data / f"{row['split']}.jsonl").open("wb")
            handle.write(jsonl_line(row))
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
