"""What a task is about, in a few words: the drill-down's subject and predicted label columns.

Both are copied onto the task when it opens (``ReviewTask.subject``, ``predicted_label``), so the
managers' pages list, search and filter tasks without reading items or predictions.
"""

import re
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

SUBJECT_LENGTH = 200
LABEL_LENGTH = 100
# Input fields that name what an item is about, best first; else the schema's first field.
SUBJECT_FIELDS = ("subject", "title", "summary", "headline", "name")
_SPACE = re.compile(r"\s+")


def subject_field(definition: dict | None, item_input: Any) -> str | None:
    """The input field a workflow's tasks are listed by: a subject-like one, else the first."""
    schema = (definition or {}).get("input_schema") or {}
    properties = schema.get("properties") if isinstance(schema, dict) else None
    names = list(properties) if isinstance(properties, dict) else []
    if not names and isinstance(item_input, dict):
        names = list(item_input)
    return next((name for name in SUBJECT_FIELDS if name in names), names[0] if names else None)


def shortened(value: Any, limit: int) -> str:
    """``value`` as one line of at most ``limit`` characters (an ellipsis says it was cut)."""
    if value is None:
        return ""
    text = _SPACE.sub(" ", value if isinstance(value, str) else str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_subject(item, definition: dict | None) -> str:
    field = subject_field(definition, item.input)
    if field is None or not isinstance(item.input, dict):
        return ""
    return shortened(item.input.get(field), SUBJECT_LENGTH)


def item_predicted_label(item) -> str:
    """The ``label`` of the item's prediction; empty without one (pairwise, gold, extraction)."""
    try:
        output = item.prediction.output
    except ObjectDoesNotExist:
        return ""
    label = output.get("label") if isinstance(output, dict) else None
    return "" if label is None else shortened(label, LABEL_LENGTH)
