"""JSONL lines are the row as jsonb text, whether PostgreSQL or Python builds them."""

import json

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.learn.datasets.exporters import jsonb_text
from reviewapp.learn.datasets.specs import protect_input, sensitive_fields, spec_rows_counted
from reviewapp.review.corrections.models import Correction
from reviewapp.review.corrections.services import canonical_hash
from tests.support.files import export_path

# Text PostgreSQL can hold in jsonb: anything but NUL.
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)


def postgresql_text(value) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [json.dumps(value)])
        return cursor.fetchone()[0]


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_jsonb_text_is_what_postgresql_prints(value):
    assert jsonb_text(value) == postgresql_text(value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [1.5e-07, 1e16, -0.0, 2.0, 10**20, {"b": 1, "aa": 2, "ä": 3, "z": 4}, "tab\t\u2028\x01\x7f"],
)
def test_jsonb_text_of_numbers_keys_and_escapes(value):
    assert jsonb_text(value) == postgresql_text(value)


def test_the_database_builds_the_lines_python_builds(release, mark_sensitive, corrected):
    """Sensitive values of every JSON type: PostgreSQL's redaction and pseudonyms (HMAC from
    its built-in sha256) are Python's, byte for byte."""
    awkward = [
        {"subject": 'Ünïcode "q" \\', "customer_tier": {"b": 1.5e-07, "aa": [1, "x"]}},
        {"subject": 42, "customer_tier": 1e16},
        {"subject": None, "customer_tier": [True, None]},
        {"customer_tier": "pro"},  # subject absent
    ]
    for correction, extra in zip(corrected, awkward, strict=True):
        value = {
            k: v for k, v in correction.input.items() if k not in ("subject", "customer_tier")
        } | extra
        Correction.objects.filter(pk=correction.pk).update(
            input=value, input_hash=canonical_hash(value)
        )
    workflow = mark_sensitive(fields={"subject": "redact", "customer_tier": "pseudonymise"})
    sensitive = sensitive_fields(workflow)

    export = release(export_format="jsonl")  # lines built by PostgreSQL

    built = [json.loads(line) for line in export_path(export).read_text().splitlines()]
    with spec_rows_counted(workflow=workflow, filters={}) as (_, rows):
        stored = [json.loads(values[1]) for values in rows]
    assert [row["input"] for row in built] == [protect_input(s, sensitive) for s in stored]
    assert built[2]["input"]["subject"] is None  # null stays null, as in protect_input
    assert "subject" not in built[3]["input"]
    assert export_path(export).read_text() == "".join(jsonb_text(row) + "\n" for row in built)
