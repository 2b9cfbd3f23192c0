"""Routing policy as code: declarative conditions evaluated by a small interpreter, never eval.

A workflow's ``routing`` section::

    threshold: 0.8                  # the default rule: below -> review, else auto-accept
    rules:                          # optional; the first rule whose condition holds decides
      - name: enterprise-billing
        when: {all: [{field: input.customer_tier, equals: enterprise},
                     {field: output.label, equals: billing}]}
        then: {review: {priority: 5}}
      - name: large-refund           # two independent reviewers; a disagreement goes to
        when: {field: input.amount, gt: 10000}   # the queue's senior queue (review.quality)
        then: {four_eyes: {priority: 3}}
    qa_sample: {rate: 0.05}         # optional; share of auto-accepted items a human checks
                                    # (and accuracy_floor, raised_rate, min_samples: see below)

A condition is ``{all: [...]}``, ``{any: [...]}``, ``{not: condition}`` or a comparison
``{field: <path>, <operator>: <value>}``; paths are ``confidence``, ``field_confidence.<f>``,
``input.<f>``, ``output.<f>`` and, with a judge, ``judge.<rubric item>.score`` and
``judge.<rubric item>.passed``. A rule that reads a judge the workflow may not rely on yet (its
agreement with reviewers is not measured well enough: ``workflows.judges``), or a score the judge
did not give, sends the item to review when the rule is reached. Actions: ``auto_accept``,
``review(queue, priority)``, ``four_eyes(queue, priority)`` and, after the rules,
``qa_sample(rate, queue)``. The decision records the rule that fired and every value it looked
at, so "why was this routed?" has an answer.
"""

import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": operator.eq,
    "not_equals": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "in": lambda value, options: value in options,
    "not_in": lambda value, options: value not in options,
}
ORDERED = {"lt", "lte", "gt", "gte"}
FIELD_PATTERN = (
    r"^(confidence|(field_confidence|input|output)\.[A-Za-z0-9_.]+"
    r"|judge\.[a-z][a-z0-9_]*\.(score|passed))$"
)
JUDGE_UNTRUSTED = "judge_untrusted"

CONDITION_SCHEMA: dict[str, Any] = {
    "$defs": {
        "condition": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["all"],
                    "additionalProperties": False,
                    "properties": {
                        "all": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/$defs/condition"},
                        }
                    },
                },
                {
                    "type": "object",
                    "required": ["any"],
                    "additionalProperties": False,
                    "properties": {
                        "any": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/$defs/condition"},
                        }
                    },
                },
                {
                    "type": "object",
                    "required": ["not"],
                    "additionalProperties": False,
                    "properties": {"not": {"$ref": "#/$defs/condition"}},
                },
                {
                    "type": "object",
                    "required": ["field"],
                    "additionalProperties": False,
                    "minProperties": 2,
                    "maxProperties": 2,
                    "properties": {
                        "field": {"type": "string", "pattern": FIELD_PATTERN},
                        **{name: {} for name in OPERATORS if name not in ("in", "not_in")},
                        "in": {"type": "array"},
                        "not_in": {"type": "array"},
                    },
                },
            ]
        },
    },
}

_QUEUE_CHOICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "queue": {"type": "string"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 100},
    },
}

ROUTING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["threshold"],
    "additionalProperties": False,
    "$defs": CONDITION_SCHEMA["$defs"],
    "properties": {
        "threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "when", "then"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    "when": {"$ref": "#/$defs/condition"},
                    "then": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["auto_accept"],
                                "additionalProperties": False,
                                "properties": {
                                    "auto_accept": {"type": "object", "maxProperties": 0}
                                },
                            },
                            {
                                "type": "object",
                                "required": ["review"],
                                "additionalProperties": False,
                                "properties": {"review": _QUEUE_CHOICE},
                            },
                            {
                                "type": "object",
                                "required": ["four_eyes"],
                                "additionalProperties": False,
                                "properties": {"four_eyes": _QUEUE_CHOICE},
                            },
                        ]
                    },
                },
            },
        },
        "qa_sample": {
            "type": "object",
            "required": ["rate"],
            "additionalProperties": False,
            "properties": {
                "rate": {"type": "number", "minimum": 0, "maximum": 1},
                # When the estimated accuracy of auto-accepted items is surely below the floor
                # (the upper end of its interval, over at least min_samples checked items), the
                # rate goes up to raised_rate and the workflow's managers are told.
                "accuracy_floor": {"type": "number", "minimum": 0, "maximum": 1},
                "raised_rate": {"type": "number", "minimum": 0, "maximum": 1},
                "min_samples": {"type": "integer", "minimum": 1},
                **_QUEUE_CHOICE["properties"],
            },
        },
    },
}


@dataclass(frozen=True)
class Facts:
    confidence: float
    field_confidence: dict[str, float]
    input: dict
    output: dict
    # Per rubric item of the workflow's judge: score, passed and whether routing may rely on it.
    judge: dict[str, dict] = field(default_factory=dict)

    def value(self, path: str) -> Any:
        root, _, rest = path.partition(".")
        current: Any = getattr(self, root)
        for part in rest.split(".") if rest else []:
            current = current.get(part) if isinstance(current, dict) else None
        return current


@dataclass(frozen=True)
class RoutingDecision:
    action: str  # "auto_accept" | "review" | "four_eyes"
    rule: str
    queue: str | None = None
    priority: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    qa_sample: bool = False

    @property
    def reviews(self) -> int:
        """How many human reviews the decision asks for (a four-eyes item costs two)."""
        return {"auto_accept": 0, "review": 1, "four_eyes": 2}[self.action]

    def as_reason(self) -> dict:
        return {
            "rule": self.rule,
            "action": self.action,
            "values": self.values,
            "qa_sample": self.qa_sample,
        }


def facts_for(
    *,
    confidence: float,
    output: dict,
    input: dict,
    field_confidence: dict | None = None,
    judge: dict[str, dict] | None = None,
) -> Facts:
    """The facts of one item. Models without per-field confidence give the overall one."""
    return Facts(
        confidence=confidence,
        field_confidence=field_confidence or {name: confidence for name in output},
        input=input,
        output=output,
        judge=judge or {},
    )


def judge_items_read(condition: dict) -> list[str]:
    """The rubric items a condition reads (``judge.<item>.score``), in order."""
    if "field" in condition:
        root, _, rest = condition["field"].partition(".")
        return [rest.split(".")[0]] if root == "judge" else []
    parts = condition.get("all") or condition.get("any") or [condition["not"]]
    return [name for part in parts for name in judge_items_read(part)]


def _unrelied(rubric_items: list[str], facts: Facts) -> dict[str, str]:
    """The rubric items routing may not rely on for this item, each with why."""
    why = {}
    for name in rubric_items:
        scored = facts.judge.get(name)
        if scored is None:
            why[f"judge.{name}"] = "not scored"
        elif not scored.get("trusted"):
            why[f"judge.{name}"] = "judge not trusted"
    return why


def condition_holds(condition: dict, facts: Facts, seen: dict[str, Any]) -> bool:
    """Evaluate one condition; every fact it reads is added to ``seen``."""
    if "all" in condition:
        return all(condition_holds(part, facts, seen) for part in condition["all"])
    if "any" in condition:
        return any(condition_holds(part, facts, seen) for part in condition["any"])
    if "not" in condition:
        return not condition_holds(condition["not"], facts, seen)
    path = condition["field"]
    (name,) = (key for key in condition if key != "field")
    value = facts.value(path)
    seen[path] = value
    if value is None and name in ORDERED:
        return False  # a missing value is neither above nor below anything
    try:
        return bool(OPERATORS[name](value, condition[name]))
    except TypeError:  # e.g. a number compared with a string: the rule does not apply
        return False


def sample_draw(item_key: str) -> float:
    """A number in [0, 1) fixed per item: the same item is always sampled, or never."""
    digest = hashlib.sha256(f"qa-sample:{item_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route(
    *,
    policy: dict,
    facts: Facts,
    default_queue: str,
    item_key: str,
    sample_rate_at_least: float | None = None,
) -> RoutingDecision:
    """The routing decision for one item. ``sample_rate_at_least`` is a QA sample rate raised
    for the workflow (its accuracy fell below the policy's floor) that overrides a lower one."""
    for rule in policy.get("rules", []):
        unrelied = _unrelied(judge_items_read(rule["when"]), facts)
        if unrelied:
            # An unmeasured judge decides nothing: people look instead.
            return RoutingDecision(
                "review",
                JUDGE_UNTRUSTED,
                queue=default_queue,
                values={"rule": rule["name"], **unrelied},
            )
        seen: dict[str, Any] = {}
        if condition_holds(rule["when"], facts, seen):
            if "auto_accept" in rule["then"]:
                decision = RoutingDecision("auto_accept", rule["name"], values=seen)
                break
            (action,) = rule["then"]
            choice = rule["then"][action]
            return RoutingDecision(
                action,
                rule["name"],
                queue=choice.get("queue", default_queue),
                priority=choice.get("priority", 0),
                values=seen,
            )
    else:
        threshold = float(policy["threshold"])
        values = {"confidence": facts.confidence, "threshold": threshold}
        if facts.confidence < threshold:
            return RoutingDecision("review", "below_threshold", queue=default_queue, values=values)
        decision = RoutingDecision("auto_accept", "confident", values=values)
    sampling = policy.get("qa_sample") or {}
    rate = max(float(sampling.get("rate", 0.0)), sample_rate_at_least or 0.0)
    if rate and sample_draw(item_key) < rate:
        return RoutingDecision(
            "review",
            decision.rule,
            queue=sampling.get("queue", default_queue),
            priority=sampling.get("priority", 0),
            values=decision.values | {"qa_sample_rate": rate},
            qa_sample=True,
        )
    return decision
