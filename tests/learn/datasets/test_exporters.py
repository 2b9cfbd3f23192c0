"""Export writers: stable bytes, loadable back, spreadsheet-safe."""

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reviewapp.core.spreadsheets import FORMULA_TRIGGERS, neutralise_formula
from reviewapp.learn.datasets.exporters import (
    LINE_FORMATS,
    WRITERS,
    ExportRow,
    jsonl_line,
    label_studio_task,
    label_studio_task_json,
)

GOLDEN = Path(__file__).parent / "golden"

ROWS = [
    {
        "item_id": 1,
        "input": {"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"},
        "model_output": {"label": "technical"},
        "human_output": {"label": "billing"},
        "diff": {"label": {"before": "technical", "after": "billing"}},
        "reason_codes": ["wrong-category"],
        "comment": '=HYPERLINK("http://evil.example", "click")',
        "model_version": "ticket-triage@1",
        "reviewer": "3f2a9c0d1e4b5a67",
        "corrected_at": "2026-11-24T10:00:00+00:00",
        "split": "train",
        "disagreement": None,
    },
    {
        "item_id": 2,
        "input": {
            "subject": "Ünïcode ✓",
            "body": 'line one\nline two, "quoted"',
        },
        "model_output": {"label": "shipping"},
        "human_output": {"label": "account"},
        "diff": {"label": {"before": "shipping", "after": "account"}},
        "reason_codes": ["ambiguous-text", "mixed-topics"],
        "comment": "",
        "model_version": "ticket-triage@1",
        "reviewer": "0b1c2d3e4f5a6b7c",
        "corrected_at": "2026-11-24T11:30:00+00:00",
        "split": "test",
        # A four-eyes review whose pair disagreed; human_output is the senior's answer.
        "disagreement": {
            "answers": [
                {
                    "outcome": "accept",
                    "output": {"label": "shipping"},
                    "reviewer": "1a2b3c4d5e6f7a8b",
                },
                {
                    "outcome": "correct",
                    "output": {"label": "account"},
                    "reviewer": "0b1c2d3e4f5a6b7c",
                },
            ]
        },
    },
]


def _write(fmt: str) -> bytes:
    handle = io.BytesIO()
    rows = [ExportRow.from_dict(row) for row in ROWS]
    if fmt in LINE_FORMATS:  # written from lists of lines: (split, tally key, text)
        rows = [[(row.split, "", row.jsonl())] for row in rows]
    counts = list(WRITERS[fmt](rows, handle))
    assert counts == [1, 2]  # the writer reports progress row by row
    return handle.getvalue()


@pytest.mark.parametrize(
    ("fmt", "golden"),
    [
        ("jsonl", "corrections.jsonl"),
        ("csv", "corrections.csv"),
        ("label_studio", "corrections.label_studio.json"),
    ],
)
def test_text_formats_are_byte_for_byte_stable(fmt, golden):
    assert _write(fmt) == (GOLDEN / golden).read_bytes()


def test_parquet_is_byte_for_byte_stable_across_runs():
    assert _write("parquet") == _write("parquet")


def test_jsonl_loads_back_to_the_rows():
    lines = _write("jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == ROWS


def test_csv_loads_back_with_neutralised_formulas():
    reader = csv.DictReader(io.StringIO(_write("csv").decode(), newline=""))
    loaded = list(reader)
    assert [int(row["item_id"]) for row in loaded] == [1, 2]
    assert loaded[0]["comment"].startswith("'=HYPERLINK")
    assert json.loads(loaded[1]["input"]) == ROWS[1]["input"]
    assert loaded[1]["reason_codes"] == "ambiguous-text;mixed-topics"
    assert loaded[0]["disagreement"] == ""
    assert json.loads(loaded[1]["disagreement"]) == ROWS[1]["disagreement"]


def test_parquet_loads_back_with_pyarrow():
    table = pq.read_table(io.BytesIO(_write("parquet")))
    assert table.num_rows == 2
    loaded = table.to_pylist()
    assert loaded[0]["item_id"] == 1
    assert json.loads(loaded[1]["input"]) == ROWS[1]["input"]
    assert loaded[1]["reason_codes"] == ["ambiguous-text", "mixed-topics"]
    assert loaded[0]["disagreement"] is None
    assert json.loads(loaded[1]["disagreement"]) == ROWS[1]["disagreement"]


def test_label_studio_tasks_carry_the_model_as_prediction_and_the_human_as_annotation():
    tasks = json.loads(_write("label_studio"))
    assert len(tasks) == 2
    first = tasks[0]
    assert first["data"]["subject"] == "Refund"
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["technical"]
    assert first["annotations"][0]["result"][0]["value"]["choices"] == ["billing"]
    assert first == label_studio_task(ROWS[0])


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_is_neutralised(trigger):
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r"}
    dangerous = f"{trigger}cmd|' /C calc'!A0"
    assert neutralise_formula(dangerous) == "'" + dangerous
    rows = [ROWS[0] | {"comment": dangerous, "model_version": f"{trigger}SUM(1,1)"}]
    handle = io.BytesIO()
    list(WRITERS["csv"](map(ExportRow.from_dict, rows), handle))
    (loaded,) = csv.DictReader(io.StringIO(handle.getvalue().decode(), newline=""))
    assert loaded["comment"] == "'" + dangerous
    assert loaded["model_version"] == f"'{trigger}SUM(1,1)"


def test_harmless_text_is_left_alone():
    assert neutralise_formula("billing") == "billing"
    assert neutralise_formula("") == ""


# Values whose JSON text is easy to get wrong when lines are assembled from pieces: escapes,
# non-ASCII, nesting, floats, empty containers, keys that sort differently by length and by code.
AWKWARD = ROWS[0] | {
    "input": {
        "zz": 1.5e-07,
        "b": ["x", {"y": None, "aa": True}],
        "subject": 'tab\there "q" \\ back\u2028sep',
        "ä": "ü",
        "big": 10**20,
    },
    "model_output": {"label": "technical", "scores": [0.1, 2.0]},
    "human_output": {},
    "diff": {"label": {"before": None, "after": "billing"}},
    "reason_codes": [],
    "comment": "line\nbreak \u00e9 \U0001f600",
    "model_version": 'm"odel@1',
    "reviewer": "",
}


@pytest.mark.parametrize("row", [*ROWS, AWKWARD])
def test_assembled_lines_are_the_rows_as_jsonb_text(row):
    encoded = ExportRow.from_dict(row)
    assert (encoded.jsonl() + "\n").encode() == jsonl_line(row)
    assert json.loads(encoded.jsonl()) == row
    assert label_studio_task_json(encoded) == json.dumps(
        label_studio_task(row), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    assert encoded.as_dict() == row
