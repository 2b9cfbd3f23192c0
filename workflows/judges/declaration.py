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

from dataclasses import dataclass
from typing import Any

DEFAULT_MIN_KAPPA = 0.6
DEFAULT_MIN_ITEMS = 50
DEFAULT_MARGIN = 0.05
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
                "margin": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
    },
}


def judge_declared(definition: dict) -> dict | None:
    return definition.get("judge") or None


@dataclass(frozen=True)
class TrustRule:
    min_kappa: float
    min_items: int
    margin: float

    def holds(self, *, items: int, kappa_low: float | None, trusted_now: bool) -> bool:
        """Whether routing may rely on a rubric item measured so: ``kappa_low`` is the lower end
        of its kappa interval over ``items`` checks, ``trusted_now`` the verdict so far."""
        if items < self.min_items or kappa_low is None:
            return False
        bar = self.min_kappa if trusted_now else self.min_kappa + self.margin
        return kappa_low > bar


def trust_rule(judge: dict) -> TrustRule:
    trust = judge.get("trust") or {}
    return TrustRule(
        min_kappa=float(trust.get("min_kappa", DEFAULT_MIN_KAPPA)),
        min_items=int(trust.get("min_items", DEFAULT_MIN_ITEMS)),
        margin=float(trust.get("margin", DEFAULT_MARGIN)),
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
