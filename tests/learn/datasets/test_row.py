"""The exported row is declared once (``ROW``): every format carries its columns, and a column
added there reaches every format, the database-built lines included."""

import csv
import io
import json
import zipfile

import pyarrow.parquet as pq
import pytest
from django.db.models import F

from reviewapp.learn.datasets.exporters import write_csv, write_parquet
from reviewapp.learn.datasets.jsontext import jsonb_key
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import ROW, TEXT, Column, RowEncoder, export_row_class
from reviewapp.learn.datasets.specs import spec_lines_counted, spec_rows_counted
from tests.support.files import export_path, release_dir

NAMES = [column.name for column in ROW]
IN_JSONB_ORDER = sorted(NAMES, key=jsonb_key)


def _keys_of_lines(text: str) -> list[list[str]]:
    return [list(json.loads(line)) for line in text.splitlines()]


@pytest.mark.parametrize("export_format", ["jsonl", "csv", "parquet", "hf_dataset"])
def test_every_format_has_the_columns_of_row(release, corrected, export_format):
    export = release(export_format=export_format)
    path = export_path(export)

    if export_format == "jsonl":
        assert _keys_of_lines(path.read_text()) == [IN_JSONB_ORDER] * len(corrected)
        card = (release_dir(export) / "DATACARD.md").read_text()
    elif export_format == "csv":
        header = next(csv.reader(io.StringIO(path.read_text(), newline="")))
        assert header == NAMES
        card = (release_dir(export) / "DATACARD.md").read_text()
    elif export_format == "parquet":
        assert pq.read_table(path).column_names == NAMES
        card = (release_dir(export) / "DATACARD.md").read_text()
    else:
        with zipfile.ZipFile(path) as archive:
            lines = "".join(
                archive.read(name).decode()
                for name in archive.namelist()
                if name.startswith("data/")
            )
            card = archive.read("README.md").decode()
        assert _keys_of_lines(lines) == [IN_JSONB_ORDER] * len(corrected)

    assert export.manifest["fields"] == NAMES
    for column in ROW:
        assert f"- `{column.name}`: {column.note}\n" in card


# A field someone might add next: the queue the correction was decided in.
QUEUE = Column(
    "queue",
    TEXT,
    "the queue the correction was decided in",
    select=(("queue_slug", F("decision__task__queue__slug")),),
    line=lambda sensitive: F("decision__task__queue__slug"),
    neutralised=True,
)


def test_a_column_added_to_row_appears_in_every_format(demo, corrected, mark_sensitive):
    mark_sensitive(fields={"subject": "redact"})
    with_queue = export_row_class((*ROW, QUEUE), name="WithQueue")
    spec = {"workflow": demo.workflow, "filters": {}, "row_type": with_queue}
    sensitive = sensitive_fields(demo.workflow)
    encoder = RowEncoder(sensitive, with_queue)
    with spec_rows_counted(**spec) as (total, values):
        rows = [encoder.row(value)[0] for value in values]
    slug = demo.queue.slug
    assert total == len(rows) == len(corrected)

    # JSONL, assembled in Python and built by PostgreSQL: the same bytes.
    assert [json.loads(row.jsonl())["queue"] for row in rows] == [slug] * total
    with spec_lines_counted(**spec, sensitive=sensitive) as (_, chunks):
        lines = [text for chunk in chunks for _split, _key, text in chunk]
    assert lines == [row.jsonl() for row in rows]
    assert all(json.loads(line)["input"]["subject"] == "[redacted]" for line in lines)

    handle = io.BytesIO()
    list(write_csv(rows, handle, with_queue))
    loaded = list(csv.DictReader(io.StringIO(handle.getvalue().decode(), newline="")))
    assert list(loaded[0]) == [*NAMES, "queue"]
    assert [row["queue"] for row in loaded] == [slug] * total

    handle = io.BytesIO()
    list(write_parquet(rows, handle, with_queue))
    table = pq.read_table(io.BytesIO(handle.getvalue()))
    assert table.column_names == [*NAMES, "queue"]
    assert table.column("queue").to_pylist() == [slug] * total

    assert rows[0].as_dict()["queue"] == slug
    assert with_queue.from_dict(rows[0].as_dict()).jsonl() == rows[0].jsonl()


def test_a_text_column_that_starts_like_a_formula_is_neutralised_in_csv(demo, corrected):
    formula = export_row_class((*ROW[:-1], QUEUE, ROW[-1]), name="Formula")
    demo.queue.slug = "=cmd"
    demo.queue.save(update_fields=["slug"])
    encoder = RowEncoder({}, formula)
    with spec_rows_counted(workflow=demo.workflow, filters={}, row_type=formula) as (_, values):
        rows = [encoder.row(value)[0] for value in values]

    handle = io.BytesIO()
    list(write_csv(rows, handle, formula))
    loaded = list(csv.DictReader(io.StringIO(handle.getvalue().decode(), newline="")))

    assert {row["queue"] for row in loaded} == {"'=cmd"}
    assert {json.loads(row.jsonl())["queue"] for row in rows} == {"=cmd"}


def test_a_row_refuses_columns_that_would_clash():
    with pytest.raises(ValueError, match="unique"):
        export_row_class((*ROW, ROW[0]))
    clash = Column("loads", TEXT, "", select=(("loads_text", None),), line=lambda s: F("x"))
    with pytest.raises(ValueError, match="identifiers"):
        export_row_class((*ROW, clash))
