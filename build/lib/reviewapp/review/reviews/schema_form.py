"""The correction form, generated from the workflow's output JSON Schema.

``form_fields`` turns the schema (and the model's output, or what the reviewer submitted) into
fields the review page renders; ``form_parse`` turns the submitted form back into an output
dict and field-level errors. Field kinds:

- ``choice``: ``enum`` (one label): a select
- ``multi_choice``: an array of ``enum`` items (several labels): checkboxes
- ``text`` / ``long_text``: a string: an input, or a textarea when it may be long
- ``integer`` / ``number``: with ``minimum`` / ``maximum`` when the schema has them
- ``boolean``: a checkbox
- ``spans``: an array of ``{start, end, label}`` over an input text field (``x-span-of``, else
  the workflow's first text field): editable rows, filled from a text selection by script
- ``json``: anything else, edited as JSON, so no schema is impossible to correct

Submitted names are ``output.<field>`` (``output.<field>.start|end|label`` per span row).
"""

import json
from dataclasses import dataclass, field
from typing import Any

from workflows.schemas import schema_errors

PREFIX = "output."
# Strings that may be longer than this get a textarea.
SHORT_TEXT_MAX = 120


@dataclass
class SpanSegment:
    """A piece of the span field's source text, marked with a label when a span covers it."""

    text: str
    label: str | None = None


@dataclass
class FormField:
    name: str
    label: str
    kind: str
    required: bool
    value: Any
    options: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    errors: list[str] = field(default_factory=list)
    confidence: float | None = None
    low_confidence: bool = False
    # Spans only: the input field they point into, its text, and that text cut by the spans.
    source_field: str = ""
    source_text: str = ""
    segments: list[SpanSegment] = field(default_factory=list)
    # JSON fields after a refusal: the text as typed, which may not parse.
    raw: str | None = None
    # What the model said for this field, for reading (the model output card).
    model_text: str = ""

    @property
    def html_name(self) -> str:
        return PREFIX + self.name

    @property
    def html_id(self) -> str:
        return "field-" + self.name.replace(".", "-")

    @property
    def span_rows(self) -> list[dict]:
        """The span rows to edit, each with the text it covers when its numbers fit."""
        rows = []
        for span in self.value if isinstance(self.value, list) else []:
            covered = _int_span(span)
            text = (
                self.source_text[covered["start"] : covered["end"]]
                if _span_in_text(covered, self.source_text)
                else ""
            )
            rows.append({**span, "text": text})
        return rows

    @property
    def json_value(self) -> str:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.value, ensure_ascii=False, indent=2)


class SchemaFormError(ValueError):
    """The output schema asks for a form this module cannot build (a configuration error)."""


def _field_order(schema: dict) -> list[str]:
    # jsonb keeps no key order: required fields in their listed order, then the rest by name.
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name in properties]
    return required + sorted(name for name in properties if name not in required)


def _is_span_schema(schema: dict) -> bool:
    items = schema.get("items", {}) if schema.get("type") == "array" else {}
    properties = items.get("properties", {}) if isinstance(items, dict) else {}
    return {"start", "end", "label"} <= set(properties)


def _kind(schema: dict) -> str:
    if "enum" in schema:
        return "choice"
    kind = schema.get("type")
    if kind == "array" and "enum" in schema.get("items", {}):
        return "multi_choice"
    if _is_span_schema(schema):
        return "spans"
    if kind == "string":
        longest = schema.get("maxLength")
        return "text" if longest is not None and longest <= SHORT_TEXT_MAX else "long_text"
    if kind in ("integer", "number", "boolean"):
        return kind
    return "json"


def _span_source(schema: dict, definition: dict) -> str:
    source = schema.get("x-span-of") or next(iter(definition.get("text_fields", [])), None)
    if not source:
        raise SchemaFormError("a span field needs x-span-of or a workflow text field")
    return source


def _segments(text: str, spans: Any) -> list[SpanSegment]:
    """The text cut at the spans' edges; overlapping or broken spans are left unmarked."""
    usable = sorted(
        (span for span in spans if _span_in_text(span, text)) if isinstance(spans, list) else [],
        key=lambda span: (span["start"], span["end"]),
    )
    segments: list[SpanSegment] = []
    cursor = 0
    for span in usable:
        if span["start"] < cursor:
            continue
        if span["start"] > cursor:
            segments.append(SpanSegment(text[cursor : span["start"]]))
        segments.append(SpanSegment(text[span["start"] : span["end"]], str(span["label"])))
        cursor = span["end"]
    if cursor < len(text) or not segments:
        segments.append(SpanSegment(text[cursor:]))
    return segments


def _span_in_text(span: Any, text: str) -> bool:
    return (
        isinstance(span, dict)
        and isinstance(span.get("start"), int)
        and isinstance(span.get("end"), int)
        and 0 <= span["start"] < span["end"] <= len(text)
    )


def form_fields(
    *,
    definition: dict,
    item_input: dict,
    output: dict,
    errors: dict[str, list[str]] | None = None,
    confidence: dict[str, float] | None = None,
    low_below: float | None = None,
) -> list[FormField]:
    """One field per property of the output schema, holding ``output``'s value.

    ``errors`` are keyed ``output.<field>[.<more>]`` (as the decision service reports them);
    ``confidence`` is per field, flagged low when under ``low_below``.
    """
    schema = definition["output_schema"]
    errors = errors or {}
    confidence = confidence or {}
    fields = []
    for name in _field_order(schema):
        prop = schema["properties"][name]
        kind = _kind(prop)
        item_schema = prop.get("items", {}) if kind in ("multi_choice", "spans") else {}
        options = prop.get("enum") or item_schema.get("enum") or []
        if kind == "spans":
            options = item_schema["properties"]["label"].get("enum", [])
        value = output.get(name)
        form_field = FormField(
            name=name,
            label=prop.get("title") or name.replace("_", " ").capitalize(),
            kind=kind,
            required=name in schema.get("required", []),
            value=value,
            options=[str(option) for option in options],
            minimum=prop.get("minimum"),
            maximum=prop.get("maximum"),
            max_length=prop.get("maxLength"),
            errors=[
                message
                for path, messages in errors.items()
                if path == PREFIX + name or path.startswith(PREFIX + name + ".")
                for message in messages
            ],
            confidence=confidence.get(name),
        )
        form_field.model_text = value_text(value)
        form_field.low_confidence = (
            form_field.confidence is not None
            and low_below is not None
            and form_field.confidence < low_below
        )
        if kind == "spans":
            form_field.source_field = _span_source(prop, definition)
            form_field.source_text = str(item_input.get(form_field.source_field, ""))
            form_field.segments = _segments(form_field.source_text, value)
            if not isinstance(value, list):
                form_field.value = []
        fields.append(form_field)
    return fields


def _parse_number(raw: str, kind: str) -> int | float:
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("Enter a whole number.") from None
    try:
        number = float(raw)
    except ValueError:
        raise ValueError("Enter a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError("Enter a number.")
    return number


def _parse_spans(data, name: str, prop: dict, definition: dict, item_input: dict) -> list[dict]:
    starts = data.getlist(f"{PREFIX}{name}.start")
    ends = data.getlist(f"{PREFIX}{name}.end")
    labels = data.getlist(f"{PREFIX}{name}.label")
    if not len(starts) == len(ends) == len(labels):
        raise ValueError("Every span needs a start, an end and a label.")
    text = str(item_input.get(_span_source(prop, definition), ""))
    wants_text = "text" in prop["items"]["properties"]
    spans: list[dict] = []
    problems: list[str] = []
    for number, (start, end, label) in enumerate(zip(starts, ends, labels, strict=True), 1):
        start, end, label = start.strip(), end.strip(), label.strip()
        if not (start or end or label):
            continue  # the empty row for adding one
        if not (start and end and label):
            problems.append(f"Span {number}: fill in start, end and label, or clear the row.")
            continue
        try:
            first, last = int(start), int(end)
        except ValueError:
            problems.append(f"Span {number}: start and end are character positions (numbers).")
            continue
        if not 0 <= first < last <= len(text):
            problems.append(
                f"Span {number}: needs 0 ≤ start < end ≤ {len(text)} (the text's length)."
            )
            continue
        span: dict[str, Any] = {"start": first, "end": last, "label": label}
        if wants_text:
            span["text"] = text[first:last]
        spans.append(span)
    if problems:
        raise ValueError(" ".join(problems))
    return sorted(spans, key=lambda span: (span["start"], span["end"], span["label"]))


def _parse_field(data, name: str, prop: dict, definition: dict, item_input: dict) -> Any:
    """The value of one field, or ``None`` when left empty; ValueError says what is wrong."""
    kind = _kind(prop)
    key = PREFIX + name
    if kind == "multi_choice":
        chosen = set(data.getlist(key))
        options = prop["items"]["enum"]
        if chosen - {str(option) for option in options}:
            raise ValueError("Choose only among the listed values.")
        # In the schema's order, so the same choice always gives the same output.
        return [option for option in options if str(option) in chosen]
    if kind == "spans":
        return _parse_spans(data, name, prop, definition, item_input)
    if kind == "boolean":
        return data.get(key) == "true"
    raw = data.get(key, "")
    if kind == "choice":
        by_text = {str(option): option for option in prop["enum"]}
        if raw == "":
            return None
        if raw not in by_text:
            raise ValueError("Choose one of the listed values.")
        return by_text[raw]
    if kind in ("text", "long_text"):
        return raw if raw.strip() else None
    if raw.strip() == "":
        return None
    if kind in ("integer", "number"):
        return _parse_number(raw.strip(), kind)
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError("Enter valid JSON.") from None


def form_parse(*, definition: dict, item_input: dict, data) -> tuple[dict, dict[str, list[str]]]:
    """The submitted form (a QueryDict) as an output dict, checked against the output schema.

    Returns ``(output, errors)``; errors are keyed ``output.<field>``. An empty optional field
    is left out of the output; an empty required one is reported by the schema check.
    """
    schema = definition["output_schema"]
    output: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in _field_order(schema):
        try:
            value = _parse_field(data, name, schema["properties"][name], definition, item_input)
        except ValueError as problem:
            errors[PREFIX + name] = [str(problem)]
            continue
        if value is not None:
            output[name] = value
    for path, messages in schema_errors(schema, output).items():
        key = PREFIX + path.split(".")[0] if path != "non_field_errors" else "output"
        if key not in errors:
            errors.setdefault(key, []).extend(messages)
    return output, errors


def submitted_fields(fields: list[FormField], data) -> list[FormField]:
    """The fields as the reviewer left them (after a refusal), raw text included, so nothing
    they typed is lost even where it did not parse."""
    for form_field in fields:
        key = form_field.html_name
        if form_field.kind == "multi_choice":
            form_field.value = data.getlist(key)
        elif form_field.kind == "spans":
            form_field.value = [
                {"start": start, "end": end, "label": label}
                for start, end, label in zip(
                    data.getlist(key + ".start"),
                    data.getlist(key + ".end"),
                    data.getlist(key + ".label"),
                    strict=False,
                )
                if start or end or label
            ]
            form_field.segments = _segments(
                form_field.source_text, [_int_span(span) for span in form_field.value]
            )
        elif form_field.kind == "boolean":
            form_field.value = data.get(key) == "true"
        elif form_field.kind == "json":
            form_field.raw = data.get(key, "")
        else:
            form_field.value = data.get(key, "")
    return fields


def _int_span(span: Any) -> Any:
    try:
        return {**span, "start": int(span["start"]), "end": int(span["end"])}
    except (KeyError, TypeError, ValueError):
        return span


def value_text(value: Any) -> str:
    """An output value as a reviewer reads it: labels joined, spans as label “text” start-end."""
    if value is None or value == []:
        return "—"
    if isinstance(value, list) and all(isinstance(part, (str, int, float)) for part in value):
        return ", ".join(str(part) for part in value)
    if isinstance(value, list) and all(
        isinstance(span, dict) and {"start", "end", "label"} <= set(span) for span in value
    ):
        return "; ".join(
            f"{span['label']} “{span['text']}” {span['start']}-{span['end']}"
            if "text" in span
            else f"{span['label']} {span['start']}-{span['end']}"
            for span in value
        )
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
