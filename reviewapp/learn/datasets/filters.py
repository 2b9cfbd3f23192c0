"""Which corrections a dataset holds: a workflow plus ``filters``, one row per distinct input.

Filters are parsed strictly against ``FILTERS``: an unknown name or a bad value is reported as
``filters.<name>`` and nothing the client sent reaches the ORM except through the fixed lookups
below.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from reviewapp.core.errors import InvalidRequest
from reviewapp.review.corrections.models import Correction, ReasonCode
from reviewapp.review.quality.models import GoldTask

# Which human decisions a dataset holds (the ``decision`` filter). A spec without one gets
# ``DEFAULT_DECISION``: the labels a human stands behind. Rejections (an empty output: "the
# model should not have answered") are never in it, only when asked for by name. Corrections
# pulled back from Label Studio have no review decision; they are human labels, so they count
# wherever corrections count except under "correct" alone, which has always meant review
# corrections only.
DECISIONS: dict[str, str] = {
    "human_verified": "Human-verified: accepted or corrected by a human (the default)",
    "correct": "Corrections only",
    "accept": "Accepted only",
    "reject": "Rejections only",
    "correct_or_reject": "Corrections and rejections (every change a human made)",
    "all": "Everything, rejections included",
}
DEFAULT_DECISION = "human_verified"
# Not a filter a client can give (``spec_filters_parse`` refuses it): the newest correction a
# release's build reads, fixed when it was approved (``DatasetExport.corrections_upto``).
UPTO = "corrections_upto"
_OUTCOMES = {
    "human_verified": (("accept", "correct"), True),
    "correct": (("correct",), False),
    "accept": (("accept",), False),
    "reject": (("reject",), False),
    # What a spec without a decision meant before acceptances were recorded (see migration
    # 0006 of datasets, which names it on those stored specs).
    "correct_or_reject": (("correct", "reject"), True),
    "all": (("accept", "correct", "reject"), True),
}


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
    from reviewapp.review.reviews.models import Queue

    slugs = Queue.objects.filter(workflow=workflow).values_list("slug", flat=True)
    return _known_names(value, slugs, f"a queue of {workflow.slug}")


def _check_reasons(workflow, value: Any) -> list[str]:
    codes = ReasonCode.objects.filter(workflow=workflow).values_list("code", flat=True)
    return _known_names(value, codes, f"a reason code of {workflow.slug}")


def _check_decision(workflow, value: Any) -> str:
    if not isinstance(value, str) or value not in DECISIONS:
        raise ValueError(f"Choose one of {', '.join(DECISIONS)}.")
    return value


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
    # Stored explicitly, so a stored spec keeps its meaning if the default ever changes.
    clean.setdefault("decision", DEFAULT_DECISION)
    return dict(sorted(clean.items()))


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def spec_matching(*, workflow, filters: dict) -> QuerySet[Correction]:
    """Every correction matching already parsed ``filters``, duplicates included.

    Gold items (known answers mixed into queues to check reviewers) are never dataset rows,
    whatever the filters: their decisions do not record corrections, and this keeps it so.
    """
    # Correlated on the correction's own item_id: the deduplication below repeats these
    # filters, and a join to the items for each would cost two million-row joins per export.
    showings = GoldTask.objects.filter(item_id=OuterRef("item_id"))
    matching = Correction.objects.filter(~Exists(showings), workflow=workflow)
    if UPTO in filters:
        matching = matching.filter(pk__lte=filters[UPTO])
    if "created_after" in filters:
        matching = matching.filter(created_at__gte=_aware(filters["created_after"]))
    if "created_before" in filters:
        matching = matching.filter(created_at__lt=_aware(filters["created_before"]))
    if "workflow_versions" in filters:
        matching = matching.filter(workflow_version__number__in=filters["workflow_versions"])
    if "queues" in filters:
        matching = matching.filter(decision__task__queue__slug__in=filters["queues"])
    if "reason_codes" in filters:
        any_reason = Q()
        for code in filters["reason_codes"]:
            any_reason |= (
                Q(reason_codes__contains=[code])
                if postgresql()
                else Q(JsonListHas(F("reason_codes"), Value(code)))
            )
        matching = matching.filter(any_reason)
    decision = filters.get("decision", DEFAULT_DECISION)
    if decision != "all":  # "all" is every correction: no join to the decisions needed
        outcomes, label_studio = _OUTCOMES[decision]
        chosen = Q(decision__outcome__in=outcomes)
        if label_studio:
            chosen |= Q(decision__isnull=True)
        matching = matching.filter(chosen)
    if filters.get("qa_samples_only"):
        matching = matching.filter(item__routing__qa_sample=True)
    return matching


def postgresql() -> bool:
    """The export query is tuned for PostgreSQL; the embedded quick start runs on SQLite, which
    gets portable (slower, small-data) forms of the few parts PostgreSQL alone can do."""
    return connection.vendor == "postgresql"


class JsonListHas(Func):
    """SQLite: the JSON list (first argument) holds the string (second argument).

    What ``reason_codes__contains=[code]`` means on PostgreSQL; SQLite's JSONField has no
    ``contains`` lookup.
    """

    output_field = BooleanField()

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        json_list, list_params = compiler.compile(self.source_expressions[0])
        wanted, wanted_params = compiler.compile(self.source_expressions[1])
        # Both parts are compiled expressions; every value travels as a parameter.
        return (
            f"EXISTS (SELECT 1 FROM json_each({json_list}) AS listed "  # noqa: S608
            f"WHERE listed.type = 'text' AND listed.value = {wanted})",
            (*list_params, *wanted_params),
        )


def spec_latest(*, workflow, filters: dict) -> QuerySet[Correction]:
    """The dataset's corrections: one per distinct input, oldest first.

    Duplicates are inputs with the same content, compared by ``input_hash`` (the SHA-256 of the
    canonical JSON, so key order is irrelevant); the latest correction of each wins because it
    reflects the reviewers' current understanding. "No newer matching correction of the same
    input" runs as a hash anti-join on the 64-character hash, far cheaper than comparing the
    jsonb inputs themselves.
    """
    matching = spec_matching(workflow=workflow, filters=filters)
    newer = matching.filter(input_hash=OuterRef("input_hash")).filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    return matching.filter(~Exists(newer)).order_by("created_at", "id")
