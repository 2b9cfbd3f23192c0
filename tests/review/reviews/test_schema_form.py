"""The correction form generated from an output schema: every field kind, prefilled from the
model's output, parsed back into output JSON with field-level errors."""

from django.http import QueryDict

from reviewapp.review.reviews.schema_form import form_fields, form_parse, submitted_fields

TEXT = "Refund order 1234 to Alice in Paris"
DEFINITION = {
    "text_fields": ["body"],
    "input_schema": {"type": "object", "properties": {"body": {"type": "string"}}},
    "output_schema": {
        "type": "object",
        "required": ["label", "tags"],
        "additionalProperties": False,
        "properties": {
            "label": {"title": "Right label", "enum": ["billing", "technical"]},
            "tags": {
                "type": "array",
                "items": {"enum": ["urgent", "vip", "legal"]},
                "uniqueItems": True,
            },
            "summary": {"type": "string", "maxLength": 80},
            "notes": {"type": "string"},
            "refund": {"type": "integer", "minimum": 0, "maximum": 500},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "escalate": {"type": "boolean"},
            "entities": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["start", "end", "label"],
                    "properties": {
                        "start": {"type": "integer"},
                        "end": {"type": "integer"},
                        "label": {"enum": ["PERSON", "PLACE"]},
                        "text": {"type": "string"},
                    },
                },
            },
            "extra": {"type": "object"},
        },
    },
}
INPUT = {"body": TEXT}
MODEL_OUTPUT = {
    "label": "billing",
    "tags": ["urgent"],
    "summary": "refund",
    "refund": 20,
    "score": 0.5,
    "escalate": False,
    "entities": [{"start": 21, "end": 26, "label": "PERSON", "text": "Alice"}],
    "extra": {"a": 1},
}


def post(pairs):
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    return data


def valid_form(**changes):
    pairs = {
        "output.label": ["billing"],
        "output.tags": ["urgent", "vip"],
        "output.summary": ["refund"],
        "output.notes": [""],
        "output.refund": ["20"],
        "output.score": ["0.5"],
        "output.escalate": ["true"],
        "output.entities.start": ["21", ""],
        "output.entities.end": ["26", ""],
        "output.entities.label": ["PERSON", ""],
        "output.extra": ['{"a": 1}'],
    } | changes
    return post([(key, value) for key, values in pairs.items() for value in values])


def fields_by_name(**kwargs):
    options = {"definition": DEFINITION, "item_input": INPUT, "output": MODEL_OUTPUT} | kwargs
    return {f.name: f for f in form_fields(**options)}


def test_each_schema_type_gets_its_kind_of_field_prefilled_with_the_model_output():
    fields = fields_by_name()
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "label": "choice",
        "tags": "multi_choice",
        "summary": "text",
        "notes": "long_text",
        "refund": "integer",
        "score": "number",
        "escalate": "boolean",
        "entities": "spans",
        "extra": "json",
    }
    # Required fields first, in the schema's order; then the rest by name.
    assert list(fields)[:2] == ["label", "tags"]
    assert fields["label"].label == "Right label"
    assert fields["label"].options == ["billing", "technical"]
    assert fields["label"].value == "billing"
    assert fields["tags"].options == ["urgent", "vip", "legal"]
    assert fields["tags"].value == ["urgent"]
    assert (fields["refund"].minimum, fields["refund"].maximum) == (0, 500)
    assert fields["summary"].max_length == 80
    assert fields["notes"].label == "Notes"
    assert fields["extra"].json_value == '{\n  "a": 1\n}'


def test_a_span_field_shows_its_source_text_cut_at_the_spans():
    entities = fields_by_name()["entities"]
    assert (entities.source_field, entities.source_text) == ("body", TEXT)
    assert entities.options == ["PERSON", "PLACE"]
    assert [(s.text, s.label) for s in entities.segments] == [
        ("Refund order 1234 to ", None),
        ("Alice", "PERSON"),
        (" in Paris", None),
    ]


def test_spans_that_overlap_or_leave_the_text_are_not_marked():
    output = MODEL_OUTPUT | {
        "entities": [
            {"start": 21, "end": 26, "label": "PERSON"},
            {"start": 24, "end": 30, "label": "PLACE"},
            {"start": 30, "end": 99, "label": "PLACE"},
        ]
    }
    segments = fields_by_name(output=output)["entities"].segments
    assert "".join(s.text for s in segments) == TEXT
    assert [s.label for s in segments if s.label] == ["PERSON"]


def test_a_valid_form_parses_back_into_the_output_json():
    output, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=valid_form())
    assert errors == {}
    assert output == {
        "label": "billing",
        "tags": ["urgent", "vip"],
        "summary": "refund",
        "refund": 20,
        "score": 0.5,
        "escalate": True,
        # The empty row for adding a span is ignored; the span's text comes from the input.
        "entities": [{"start": 21, "end": 26, "label": "PERSON", "text": "Alice"}],
        "extra": {"a": 1},
    }


def test_multi_labels_keep_the_schema_order_whatever_order_they_arrive_in():
    data = valid_form(**{"output.tags": ["legal", "urgent"]})
    output, _ = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert output["tags"] == ["urgent", "legal"]


def test_an_unticked_checkbox_is_false_and_empty_optional_fields_are_left_out():
    data = valid_form(**{"output.escalate": [], "output.summary": [" "], "output.refund": [""]})
    output, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert errors == {}
    assert output["escalate"] is False
    assert "summary" not in output and "refund" not in output


def test_spans_are_sorted_and_their_text_taken_from_the_input():
    data = valid_form(
        **{
            "output.entities.start": ["30", "21"],
            "output.entities.end": ["35", "26"],
            "output.entities.label": ["PLACE", "PERSON"],
        }
    )
    output, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert errors == {}
    assert output["entities"] == [
        {"start": 21, "end": 26, "label": "PERSON", "text": "Alice"},
        {"start": 30, "end": 35, "label": "PLACE", "text": "Paris"},
    ]


def test_bad_values_are_reported_on_their_own_field():
    data = valid_form(
        **{
            "output.label": [""],
            "output.tags": ["urgent", "nope"],
            "output.refund": ["12.5"],
            "output.score": ["1.5"],
            "output.extra": ["{not json"],
        }
    )
    _output, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert errors == {
        "output.label": ["This field is required."],
        "output.tags": ["Choose only among the listed values."],
        "output.refund": ["Enter a whole number."],
        "output.score": ["1.5 is greater than the maximum of 1"],
        "output.extra": ["Enter valid JSON."],
    }


def test_a_number_outside_the_schema_range_is_refused():
    _, errors = form_parse(
        definition=DEFINITION, item_input=INPUT, data=valid_form(**{"output.refund": ["501"]})
    )
    assert errors == {"output.refund": ["501 is greater than the maximum of 500"]}


def test_an_unknown_choice_is_refused():
    _, errors = form_parse(
        definition=DEFINITION, item_input=INPUT, data=valid_form(**{"output.label": ["shipping"]})
    )
    assert errors == {"output.label": ["Choose one of the listed values."]}


def test_broken_span_rows_are_reported_by_number():
    data = valid_form(
        **{
            "output.entities.start": ["21", "30", "x", "5"],
            "output.entities.end": ["26", "", "3", "99"],
            "output.entities.label": ["PERSON", "PLACE", "PLACE", "PLACE"],
        }
    )
    _, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert errors == {
        "output.entities": [
            "Span 2: fill in start, end and label, or clear the row. "
            "Span 3: start and end are character positions (numbers). "
            f"Span 4: needs 0 ≤ start < end ≤ {len(TEXT)} (the text's length)."
        ]
    }


def test_a_span_label_outside_the_schema_is_refused_by_the_schema():
    data = valid_form(**{"output.entities.label": ["ANIMAL", ""]})
    _, errors = form_parse(definition=DEFINITION, item_input=INPUT, data=data)
    assert list(errors) == ["output.entities"]


def test_errors_and_low_confidence_land_on_their_field():
    fields = fields_by_name(
        errors={"output.label": ["Pick one."], "output.entities.0.end": ["Too far."]},
        confidence={"label": 0.42, "tags": 0.93},
        low_below=0.8,
    )
    assert fields["label"].errors == ["Pick one."]
    assert fields["entities"].errors == ["Too far."]
    assert (fields["label"].confidence, fields["label"].low_confidence) == (0.42, True)
    assert (fields["tags"].confidence, fields["tags"].low_confidence) == (0.93, False)
    assert fields["summary"].confidence is None and not fields["summary"].low_confidence


def test_a_refused_form_shows_what_the_reviewer_typed_even_where_it_did_not_parse():
    data = valid_form(
        **{
            "output.refund": ["12.5"],
            "output.extra": ["{not json"],
            "output.entities.start": ["30", ""],
            "output.entities.end": ["35", ""],
            "output.entities.label": ["PLACE", ""],
        }
    )
    fields = {f.name: f for f in submitted_fields(list(fields_by_name().values()), data)}
    assert fields["refund"].value == "12.5"
    assert fields["extra"].json_value == "{not json"
    assert fields["tags"].value == ["urgent", "vip"]
    assert fields["entities"].value == [{"start": "30", "end": "35", "label": "PLACE"}]
    assert [(s.text, s.label) for s in fields["entities"].segments][-1] == ("Paris", "PLACE")
