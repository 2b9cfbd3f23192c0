"""Reading a built release back: the inverse of ``exporters``, one reader per format.

Whoever consumes a release (the Label Studio push, retraining) reads the published file, i.e.
exactly what the approvers signed off, through these readers. Each takes the file open in binary
mode and seekable (``services.release_file_open``), wherever the storage keeps it.
"""

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from reviewapp.learn.datasets.models import ExportFormat
from reviewapp.learn.datasets.row import JSON_COLUMNS

READ_BATCH = 500


def _parse(row: dict) -> dict:
    # JSON cells start with "{" or "[", never with a formula trigger, so the CSV writer's
    # neutralising quote never lands on them.
    for column in JSON_COLUMNS:
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column]) if row[column] else {}
    if "item_id" in row:
        row["item_id"] = int(row["item_id"])
    if "disagreement" in row:  # empty (CSV) or null (Parquet) when there was none
        row["disagreement"] = json.loads(row["disagreement"]) if row["disagreement"] else None
    return row


def _lines(handle) -> Iterator[dict]:
    for line in handle:
        if line.strip():
            yield json.loads(line)


def _text(handle: BinaryIO, **options) -> io.TextIOWrapper:
    # Not closed by the reader: the caller owns the file.
    return io.TextIOWrapper(handle, encoding="utf-8", **options)  # type: ignore[arg-type]


def read_jsonl(handle: BinaryIO) -> Iterator[dict]:
    yield from _lines(_text(handle))


def read_csv(handle: BinaryIO) -> Iterator[dict]:
    for row in csv.DictReader(_text(handle, newline="")):
        yield _parse(dict(row))


def read_parquet(handle: BinaryIO) -> Iterator[dict]:
    import pyarrow.parquet as pq  # heavy import, only needed here

    for batch in pq.ParquetFile(handle).iter_batches(batch_size=READ_BATCH):
        for row in batch.to_pylist():
            yield _parse(row)


def label_studio_output(result: list[dict]) -> dict:
    """An output from a Label Studio result: the choice of each ``Choices`` region, by field.

    The inverse of ``exporters._choices``; also reads annotations pulled back from a project.
    """
    return {
        region["from_name"]: region["value"]["choices"][0]
        for region in result
        if region.get("type", "choices") == "choices" and region.get("value", {}).get("choices")
    }


def read_label_studio_tasks(handle: BinaryIO) -> list[dict]:
    return json.load(_text(handle))


def read_label_studio(handle: BinaryIO) -> Iterator[dict]:
    """Rows rebuilt from tasks: input, model and human output, split."""
    for task in read_label_studio_tasks(handle):
        data = dict(task["data"])
        predictions, annotations = task.get("predictions") or [], task.get("annotations") or []
        yield {
            "item_id": data.pop("item_id", None),
            "input": data,
            "model_output": label_studio_output(predictions[0]["result"]) if predictions else {},
            "human_output": label_studio_output(annotations[0]["result"]) if annotations else {},
            "split": (task.get("meta") or {}).get("split", ""),
        }


def read_hf_zip(handle: BinaryIO) -> Iterator[dict]:
    with zipfile.ZipFile(handle) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("data/") and name.endswith(".jsonl"):
                with archive.open(name) as raw:
                    yield from _lines(io.TextIOWrapper(raw, encoding="utf-8"))


READERS: dict[str, Callable[[BinaryIO], Iterator[dict]]] = {
    ExportFormat.JSONL: read_jsonl,
    ExportFormat.CSV: read_csv,
    ExportFormat.PARQUET: read_parquet,
    ExportFormat.LABEL_STUDIO: read_label_studio,
    ExportFormat.HF_DATASET: read_hf_zip,
}
