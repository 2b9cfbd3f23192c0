"""Dataset specs: which corrections a dataset holds, and how each becomes a row.

A spec is a workflow plus ``filters``. Filters are parsed strictly against ``FILTERS``: an
unknown name or a bad value is reported as ``filters.<name>`` and nothing the client sent
reaches the ORM except through the fixed lookups below.
"""

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import F, Q, QuerySet, Subquery
from django.utils import timezone

from reviewapp.corrections.models import Correction, ReasonCode
from reviewapp.errors import InvalidRequest
from workflows.definitions import SENSITIVE_MODES

# The split of a row follows from its input alone, so a ticket seen again in a later release
# lands in the same split: no leakage from train into test across releases.
SPLITS = (("train", 80), ("validation", 10), ("test", 10))
REDACTED = "[redacted]"
DECISIONS = ("correct", "reject")


class SpecInvalid(InvalidRequest):
    detail = "The dataset spec is not valid."


def _moment(workflow, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Give an ISO 8601 date or time.")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Give an ISO 8601 date or time.") from None
    return value


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("Give a non-empty list.")
    if not all(isinstance(v, str) and v for v in value):
        raise ValueError("Every entry must be a non-empty string.")
    return sorted(set(value))


def _check_versions(workflow, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise ValueError("Give a non-empty list of version numbers.")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError("Version numbers are positive integers.")
    known = set(workflow.versions.values_list("number", flat=True))
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"No such version of {workflow.slug}: {', '.join(map(str, unknown))}.")
    return sorted(set(value))


def _known_names(value: Any, known, what: str) -> list[str]:
    """``value`` as a list of names, each of which must be in the ``known`` queryset."""
    names = _string_list(value)
    existing = set(known)
    unknown = [name for name in names if name not in existing]
    if unknown:
        raise ValueError(f"Not {what}: {', '.join(unknown)}.")
    return names


def _check_queues(workflow, value: Any) -> list[str]:
    from reviewapp.reviews.models import Queue

    slugs = Queue.objects.filter(workflow=workflow).values_list("slug", flat=True)
    return _known_names(value, slugs, f"a queue of {workflow.slug}")


def _check_reasons(workflow, value: Any) -> list[str]:
    codes = ReasonCode.objects.filter(workflow=workflow).values_list("code", flat=True)
    return _known_names(value, codes, f"a reason code of {workflow.slug}")


def _check_decision(workflow, value: Any) -> str:
    if value not in DECISIONS:
        raise ValueError(f"Choose one of {', '.join(DECISIONS)}.")
    return str(value)


def _check_flag(workflow, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Give true or false.")
    return value


FILTERS: dict[str, Callable[[Any, Any], Any]] = {
    "created_after": _moment,
    "created_before": _moment,
    "workflow_versions": _check_versions,
    "queues": _check_queues,
    "reason_codes": _check_reasons,
    "decision": _check_decision,
    "qa_samples_only": _check_flag,
}


def spec_filters_parse(*, workflow, filters: Any) -> dict:
    """The canonical form of ``filters`` (sorted, deduplicated), or ``SpecInvalid``."""
    if not isinstance(filters, dict):
        raise SpecInvalid({"filters": ["Give the filters as an object."]})
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    for name, value in filters.items():
        check = FILTERS.get(name)
        if check is None:
            errors[f"filters.{name}"] = [
                f"Unknown filter. Use one of: {', '.join(sorted(FILTERS))}."
            ]
            continue
        try:
            clean[name] = check(workflow, value)
        except ValueError as problem:
            errors[f"filters.{name}"] = [str(problem)]
    if (
        not errors
        and "created_after" in clean
        and "created_before" in clean
        and _aware(clean["created_after"]) >= _aware(clean["created_before"])
    ):
        errors["filters.created_before"] = ["Must be later than created_after."]
    if errors:
        raise SpecInvalid(errors)
    # "Only QA samples: no" means no filter at all; keep the stored spec minimal.
    if clean.get("qa_samples_only") is False:
        del clean["qa_samples_only"]
    return dict(sorted(clean.items()))


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def spec_corrections(*, workflow, filters: dict) -> QuerySet[Correction]:
    """Corrections matching already parsed ``filters``, one per distinct input, oldest first.

    Duplicates are inputs with the same content (jsonb equality ignores key order); the latest
    correction of each wins because it reflects the reviewers' current understanding.
    """
    matching = Correction.objects.filter(workflow=workflow)
    if "created_after" in filters:
        matching = matching.filter(created_at__gte=_aware(filters["created_after"]))
    if "created_before" in filters:
        matching = matching.filter(created_at__lt=_aware(filters["created_before"]))
    if "workflow_versions" in filters:
        matching = matching.filter(item__workflow_version__number__in=filters["workflow_versions"])
    if "queues" in filters:
        matching = matching.filter(decision__task__queue__slug__in=filters["queues"])
    if "reason_codes" in filters:
        any_reason = Q()
        for code in filters["reason_codes"]:
            any_reason |= Q(reason_codes__contains=[code])
        matching = matching.filter(any_reason)
    if "decision" in filters:
        matching = matching.filter(decision__outcome=filters["decision"])
    if filters.get("qa_samples_only"):
        matching = matching.filter(item__routing__qa_sample=True)
    # DISTINCT ON (input) keeps the first row per input in this order: the latest correction.
    latest = matching.order_by("input", "-created_at", "-id").distinct("input").values("pk")
    return (
        Correction.objects.filter(pk__in=Subquery(latest))
        .annotate(workflow_version_number=F("item__workflow_version__number"))
        .order_by("created_at", "id")
    )


def canonical_hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def split_for(input_value: Any) -> str:
    """train / validation / test, 80/10/10, from the SHA-256 of the canonical input."""
    bucket = int(canonical_hash(input_value)[:8], 16) % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the split shares add up to 100")  # pragma: no cover


def sensitive_fields(workflow) -> dict[str, str]:
    """``{field: "redact" | "pseudonymise"}`` over every version of the workflow.

    A field marked in any version stays sensitive for all rows: older items were ingested under
    older versions, and unmarking a field later must not leak what was once declared sensitive.
    Where versions disagree, redaction (the stronger treatment) wins.
    """
    fields: dict[str, str] = {}
    for definition in workflow.versions.values_list("definition", flat=True):
        for name, schema in definition["input_schema"].get("properties", {}).items():
            mode = schema.get("x-sensitive") if isinstance(schema, dict) else None
            if mode in SENSITIVE_MODES and fields.get(name) != "redact":
                fields[name] = mode
    return dict(sorted(fields.items()))


def pseudonym(field: str, value: Any) -> str:
    """The same value of the same field always gets the same pseudonym (joins still work)."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False)
    digest = hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(),
        f"field:{field}:{canonical}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"pseud-{digest[:16]}"


def protect_input(input_value: dict, fields: dict[str, str]) -> dict:
    if not fields:
        return input_value
    protected = dict(input_value)
    for name, mode in fields.items():
        if name in protected and protected[name] is not None:
            protected[name] = REDACTED if mode == "redact" else pseudonym(name, protected[name])
    return protected


def correction_row(correction: Correction, *, sensitive: dict[str, str] | None = None) -> dict:
    """One labeled example; ``sensitive`` names the input fields to redact or pseudonymise."""
    return {
        "item_id": correction.item_id,
        "input": protect_input(correction.input, sensitive or {}),
        "model_output": correction.model_output,
        "human_output": correction.human_output,
        "diff": correction.diff,
        "reason_codes": correction.reason_codes,
        "comment": correction.comment,
        "model_version": correction.model_version,
        "reviewer": correction.reviewer_pseudonym,
        "corrected_at": correction.created_at.isoformat(),
        # Split by the raw input so redaction never moves a row between splits.
        "split": split_for(correction.input),
    }


def human_class(row: dict) -> str:
    """The class of a row for counting: the human label, or the decision when there is none."""
    label = row["human_output"].get("label") if isinstance(row["human_output"], dict) else None
    return str(label) if label is not None else "(none)"
