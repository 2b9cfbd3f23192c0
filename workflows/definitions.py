"""Workflows as version-controlled configuration (policy as code).

A definition file is YAML under ``settings.REVIEWAPP_WORKFLOWS_DIR``. It is checked against
``FILE_SCHEMA`` and a few rules a schema cannot express; every problem is reported with the
file and the field, and nothing is published unless every file is valid.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from workflows.judges.declaration import JUDGE_SCHEMA, judge_declaration_errors, judge_declared
from workflows.pipeline.policy import ROUTING_SCHEMA
from workflows.schemas import schema_errors

SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$", "maxLength": 50}

FILE_SCHEMA: dict[str, Any] = {
    "$defs": ROUTING_SCHEMA["$defs"],
    "type": "object",
    "required": ["slug", "name", "team", "queue", "reason_codes", "definition"],
    "additionalProperties": False,
    "properties": {
        "slug": SLUG,
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "team": SLUG,
        "queue": {
            "type": "object",
            "required": ["slug", "name"],
            "additionalProperties": False,
            "properties": {"slug": SLUG, "name": {"type": "string", "minLength": 1}},
        },
        "reason_codes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["code", "label", "applies_to"],
                "additionalProperties": False,
                "properties": {
                    "code": SLUG,
                    "label": {"type": "string", "minLength": 1, "maxLength": 120},
                    "applies_to": {"enum": ["correct", "reject", "both"]},
                    # Another code of this file: the reason is a more precise kind of it.
                    "parent": SLUG,
                },
            },
        },
        "definition": {
            "type": "object",
            "required": [
                "input_schema",
                "output_schema",
                "labels",
                "text_fields",
                "model",
                "routing",
                "queue",
            ],
            "additionalProperties": False,
            "properties": {
                "input_schema": {"type": "object"},
                "output_schema": {"type": "object"},
                "labels": {"type": "array", "minItems": 2, "items": {"type": "string"}},
                "text_fields": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "model": {
                    "type": "object",
                    "required": ["name", "version"],
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
                "routing": ROUTING_SCHEMA,
                # An LLM judge that scores the model's output per rubric item (workflows.judges).
                "judge": JUDGE_SCHEMA,
                "budget": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "max_step_runs": {"type": "integer", "minimum": 4},
                        "max_seconds": {"type": "integer", "minimum": 60},
                        # Cost of an item's model calls, in the prices' currency.
                        "max_cost": {"type": "number", "exclusiveMinimum": 0},
                    },
                },
                "webhook": {
                    "type": "object",
                    "required": ["url", "secret_env"],
                    "additionalProperties": False,
                    "properties": {
                        "url": {"type": "string", "pattern": "^https?://"},
                        # The name of the environment variable holding the signing secret.
                        "secret_env": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                    },
                },
                "queue": SLUG,
                # How to review this workflow's items, in Markdown: shown beside every task
                # (raw HTML in it is shown as text, never run).
                "guidelines": {"type": "string", "maxLength": 20000},
                # Dataset releases of a sensitive workflow need two different approvers.
                "sensitive": {"type": "boolean"},
                # An approval workflow: agents ask before they act (reviewapp/review/approvals).
                "approval": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "deadline_seconds": {"type": "integer", "minimum": 1},
                        "max_deadline_seconds": {"type": "integer", "minimum": 1},
                        "on_deadline": {"enum": ["deny", "approve", "escalate"]},
                        "four_eyes_risk": {
                            "type": "array",
                            "items": {"enum": ["low", "medium", "high", "critical"]},
                        },
                    },
                },
            },
        },
    },
}
# Input fields may carry ``x-sensitive``: how dataset exports protect them.
SENSITIVE_MODES = ("redact", "pseudonymise")


class DefinitionInvalid(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ReasonEntry:
    """One reason of a workflow's taxonomy; ``code`` and ``parent`` are full paths
    (``wrong-category/near-miss``), which is what decisions, corrections and exports carry."""

    code: str
    label: str
    applies_to: str
    parent: str | None


@dataclass(frozen=True)
class WorkflowFile:
    path: Path
    slug: str
    name: str
    team: str
    queue_slug: str
    queue_name: str
    reason_codes: list[ReasonEntry]
    # Includes the reason taxonomy, so a taxonomy change publishes a new workflow version.
    definition: dict


def _rules(data: dict) -> dict[str, list[str]]:
    """What the schema cannot say: schemas must be schemas, names must agree."""
    errors: dict[str, list[str]] = {}
    definition = data["definition"]
    for key in ("input_schema", "output_schema"):
        try:
            Draft202012Validator.check_schema(definition[key])
        except SchemaError as exc:
            errors[f"definition.{key}"] = [f"not a valid JSON Schema: {exc.message}"]
    declared = definition["output_schema"].get("properties", {}).get("label", {}).get("enum")
    if declared is not None and sorted(declared) != sorted(definition["labels"]):
        errors["definition.labels"] = ["must list the same labels as output_schema's label enum"]
    input_fields = set(definition["input_schema"].get("properties", {}))
    for index, name in enumerate(definition["text_fields"]):
        if name not in input_fields:
            errors[f"definition.text_fields.{index}"] = [f"{name!r} is not an input field"]
    for name, field in definition["input_schema"].get("properties", {}).items():
        mode = field.get("x-sensitive") if isinstance(field, dict) else None
        if mode is not None and mode not in SENSITIVE_MODES:
            errors[f"definition.input_schema.properties.{name}.x-sensitive"] = [
                f"must be one of {', '.join(SENSITIVE_MODES)}"
            ]
    output_fields = set(definition["output_schema"].get("properties", {}))
    judge = judge_declared(definition)
    known = {
        "input": input_fields,
        "output": output_fields,
        "field_confidence": output_fields,
        "judge": {entry["name"] for entry in judge["rubric"]} if judge else set(),
    }
    routing = definition["routing"]
    for index, rule in enumerate(routing.get("rules", [])):
        for path in _condition_fields(rule["when"]):
            root, _, name = path.partition(".")
            if root in known and name.split(".")[0] not in known[root]:
                what = (
                    "rubric item of the judge"
                    if root == "judge"
                    else f"{root.replace('_', ' ')} field"
                )
                errors.setdefault(f"definition.routing.rules.{index}.when", []).append(
                    f"{path!r} names no {what}"
                )
        for action in ("review", "four_eyes"):
            target = rule["then"].get(action, {}).get("queue")
            if target is not None and target != data["queue"]["slug"]:
                errors[f"definition.routing.rules.{index}.then.{action}.queue"] = [
                    "must be the workflow's queue"
                ]
    sampling = routing.get("qa_sample", {})
    sampled = sampling.get("queue")
    if sampled is not None and sampled != data["queue"]["slug"]:
        errors["definition.routing.qa_sample.queue"] = ["must be the workflow's queue"]
    if ("accuracy_floor" in sampling) != ("raised_rate" in sampling):
        errors["definition.routing.qa_sample"] = ["accuracy_floor and raised_rate go together"]
    elif sampling.get("raised_rate", 1.0) <= sampling.get("rate", 0.0):
        errors["definition.routing.qa_sample.raised_rate"] = ["must be above rate"]
    errors |= judge_declaration_errors(definition)
    if definition["queue"] != data["queue"]["slug"]:
        errors["definition.queue"] = ["must be the slug of the workflow's queue"]
    errors |= _taxonomy_errors(data["reason_codes"])
    errors |= _span_field_errors(definition)
    return errors


def _span_field_errors(definition: dict) -> dict[str, list[str]]:
    """A span field of the output (``x-span-of``) marks text of an input field: it must be one."""
    errors: dict[str, list[str]] = {}
    inputs = definition["input_schema"].get("properties", {})
    for name, field in definition["output_schema"].get("properties", {}).items():
        source = field.get("x-span-of") if isinstance(field, dict) else None
        if source is None:
            continue
        if not isinstance(inputs.get(source), dict) or inputs[source].get("type") != "string":
            errors[f"definition.output_schema.properties.{name}.x-span-of"] = [
                f"{source!r} is not a text input field"
            ]
    return errors


def _taxonomy_errors(entries: list[dict]) -> dict[str, list[str]]:
    """Codes are unique, and each parent is another code without going round in a circle."""
    errors: dict[str, list[str]] = {}
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry["code"] in first_index:
            errors[f"reason_codes.{index}.code"] = [
                f"{entry['code']!r} is already defined by reason_codes.{first_index[entry['code']]}"
            ]
        else:
            first_index[entry["code"]] = index
    parents = {entry["code"]: entry.get("parent") for entry in entries}
    for index, entry in enumerate(entries):
        parent = entry.get("parent")
        if parent is None:
            continue
        if parent not in parents:
            errors[f"reason_codes.{index}.parent"] = [f"{parent!r} is not a reason code"]
            continue
        seen = {entry["code"]}
        while parent is not None and parent in parents:
            if parent in seen:
                errors[f"reason_codes.{index}.parent"] = [
                    f"{entry['code']!r} is its own ancestor (a cycle through {parent!r})"
                ]
                break
            seen.add(parent)
            parent = parents[parent]
    return errors


def _reason_entries(entries: list[dict]) -> list[ReasonEntry]:
    """Full paths, parents before their children (the sync creates them in this order)."""
    parents = {entry["code"]: entry.get("parent") for entry in entries}

    def path(code: str) -> str:
        parent = parents[code]
        return code if parent is None else f"{path(parent)}/{code}"

    ordered = sorted(entries, key=lambda entry: path(entry["code"]).count("/"))
    return [
        ReasonEntry(
            code=path(entry["code"]),
            label=entry["label"],
            applies_to=entry["applies_to"],
            parent=path(entry["parent"]) if entry.get("parent") else None,
        )
        for entry in ordered
    ]


def _condition_fields(condition: dict) -> list[str]:
    if "field" in condition:
        return [condition["field"]]
    parts = condition.get("all") or condition.get("any") or [condition["not"]]
    return [path for part in parts for path in _condition_fields(part)]


def workflow_file_load(path: Path) -> WorkflowFile:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DefinitionInvalid([f"{path.name}: not valid YAML: {exc}"]) from exc
    errors = schema_errors(FILE_SCHEMA, data)
    if not errors:
        errors = _rules(data)
    if errors:
        raise DefinitionInvalid(
            [
                f"{path.name}: {field}: {message}"
                for field, messages in sorted(errors.items())
                for message in messages
            ]
        )
    reasons = _reason_entries(data["reason_codes"])
    return WorkflowFile(
        path=path,
        slug=data["slug"],
        name=data["name"],
        team=data["team"],
        queue_slug=data["queue"]["slug"],
        queue_name=data["queue"]["name"],
        reason_codes=reasons,
        definition=data["definition"]
        | {"reason_codes": [dataclasses.asdict(reason) for reason in reasons]},
    )


def workflow_files_load(directory: Path) -> list[WorkflowFile]:
    """Load every ``*.yaml`` file; raise once with every problem of every file."""
    problems: list[str] = []
    loaded: list[WorkflowFile] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            loaded.append(workflow_file_load(path))
        except DefinitionInvalid as invalid:
            problems.extend(invalid.problems)
    slugs = [f.slug for f in loaded]
    for slug in {s for s in slugs if slugs.count(s) > 1}:
        problems.append(f"slug {slug!r} is defined by more than one file")
    if problems:
        raise DefinitionInvalid(problems)
    return loaded
