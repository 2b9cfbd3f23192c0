"""The ``judge`` section of a workflow definition::

judge:
  name: triage-judge          # a model version of adapter kind "judge"
  version: "1"
  rubric:
    - name: label_right
      question: Is the label the right queue for this ticket?
      scale: [1, 5]
      pass_at: 4              # a score of 4 or more is the judge's "pass"
      field: label            # optional: the output field this rubric item is about
  trust:                      # when routing may rely on the judge (defaults shown)
    min_kappa: 0.6            # the lower end of kappa's 95 % interval must be above this
    min_items: 50             # over at least this many reviewed items
"""

from typing import Any

DEFAULT_MIN_KAPPA = 0.6
DEFAULT_MIN_ITEMS = 50
RUBRIC_NAME = "^[a-z][a-z0-9_]{0,59}$"

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "version", "rubric"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "version": {"type": "string", "minLength": 1},
        "rubric": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "question", "scale", "pass_at"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": RUBRIC_NAME},
                    "question": {"type": "string", "minLength": 1, "maxLength": 500},
                    "scale": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "minItems": 2,
                        "maxItems": 2,
                    },
                    "pass_at": {"type": "integer"},
                    "field": {"type": "string"},
                },
            },
        },
        "trust": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "min_kappa": {"type": "number", "minimum": -1, "maximum": 1},
                "min_items": {"type": "integer", "minimum": 2},
            },
        },
    },
}


def judge_declared(definition: dict) -> dict | None:
    return definition.get("judge") or None


def trust_rule(judge: dict) -> tuple[float, int]:
    """(min_kappa, min_items) of a judge declaration."""
    trust = judge.get("trust") or {}
    return (
        float(trust.get("min_kappa", DEFAULT_MIN_KAPPA)),
        int(trust.get("min_items", DEFAULT_MIN_ITEMS)),
    )


def judge_declaration_errors(definition: dict) -> dict[str, list[str]]:
    """What the schema cannot say: names unique, scales ordered, pass marks on the scale."""
    judge = judge_declared(definition)
    if judge is None:
        return {}
    errors: dict[str, list[str]] = {}
    output_fields = set(definition["output_schema"].get("properties", {}))
    seen: set[str] = set()
    for index, entry in enumerate(judge["rubric"]):
        where = f"definition.judge.rubric.{index}"
        if entry["name"] in seen:
            errors[f"{where}.name"] = [f"{entry['name']!r} is named twice"]
        seen.add(entry["name"])
        low, high = entry["scale"]
        if low >= high:
            errors[f"{where}.scale"] = ["must be [lowest, highest] with lowest below highest"]
        elif not low < entry["pass_at"] <= high:
            errors[f"{where}.pass_at"] = [f"must be above {low} and at most {high}"]
        if "field" in entry and entry["field"] not in output_fields:
            errors[f"{where}.field"] = [f"{entry['field']!r} is not an output field"]
    return errors
