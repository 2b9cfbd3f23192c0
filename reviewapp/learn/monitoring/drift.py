"""Drift: has what arrives, or what the model answers, moved away from what it was?

For the current version of a workflow, the items of the recent window
(``REVIEWAPP_DRIFT_WINDOW_HOURS``) are compared with those of the reference window, the
``REVIEWAPP_DRIFT_REFERENCE_DAYS`` before it: each input field (categories and booleans by the
population stability index over their values, numbers by PSI over the reference's deciles, text
by PSI over its length and by the share of words never seen in the reference), the predicted
label (PSI) and the confidence (PSI over tenths). A check that drifts where the previous one did
not raises the alarm once: an audit event (which the event bus also publishes) and a
notification to the workflow's managers.
"""

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.core.accounts.models import Membership, Role
from reviewapp.core.audit.services import audit_record
from reviewapp.core.statistics import new_token_share, psi_categorical, psi_numeric
from reviewapp.learn.monitoring.models import DriftCheck
from reviewapp.review.sla.inbox import notifications_create
from reviewapp.review.sla.models import Notification, NotificationKind
from workflows.models import Item, Workflow

CONFIDENCE_EDGES = [step / 10 for step in range(1, 10)]
# The newest items of each window that are compared: enough for stable shares, bounded cost.
WINDOW_SAMPLE = 5000


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "category" | "number" | "text length" | "new words" | "label" | "confidence"
    statistic: str  # "PSI" | "share"
    value: float
    alarm: float

    @property
    def drifted(self) -> bool:
        return self.value > self.alarm


def _rows(items) -> list[tuple[dict, dict | None, float | None]]:
    return list(
        items.order_by("-created_at").values_list(
            "input", "prediction__output", "prediction__confidence"
        )[:WINDOW_SAMPLE]
    )


def _field_values(rows, name: str) -> list:
    return [row[0][name] for row in rows if isinstance(row[0], dict) and name in row[0]]


def drift_features(reference: list, current: list, input_schema: dict) -> list[Feature]:
    psi_alarm = settings.REVIEWAPP_DRIFT_PSI_ALARM
    features: list[Feature] = []
    for name, spec in input_schema.get("properties", {}).items():
        ref, cur = _field_values(reference, name), _field_values(current, name)
        kind = spec.get("type")
        if "enum" in spec or kind == "boolean":
            features.append(Feature(name, "category", "PSI", psi_categorical(ref, cur), psi_alarm))
        elif kind in ("number", "integer"):
            numbers = [[v for v in side if isinstance(v, int | float)] for side in (ref, cur)]
            features.append(Feature(name, "number", "PSI", psi_numeric(*numbers), psi_alarm))
        elif kind == "string":
            texts = [[v for v in side if isinstance(v, str)] for side in (ref, cur)]
            lengths = [[float(len(v)) for v in side] for side in texts]
            features.append(Feature(name, "text length", "PSI", psi_numeric(*lengths), psi_alarm))
            features.append(
                Feature(
                    name,
                    "new words",
                    "share",
                    new_token_share(*texts),
                    settings.REVIEWAPP_DRIFT_NEW_WORDS_ALARM,
                )
            )
    labels = [
        [json.dumps(row[1].get("label"), sort_keys=True) for row in side if row[1]]
        for side in (reference, current)
    ]
    features.append(Feature("predicted label", "label", "PSI", psi_categorical(*labels), psi_alarm))
    confidences = [[row[2] for row in side if row[2] is not None] for side in (reference, current)]
    features.append(
        Feature(
            "confidence",
            "confidence",
            "PSI",
            psi_numeric(*confidences, edges=CONFIDENCE_EDGES),
            psi_alarm,
        )
    )
    return features


def drift_check(*, workflow: Workflow, now: datetime | None = None) -> DriftCheck | None:
    """Compare the windows of the workflow's current version and store the check; ``None``
    for a workflow without a version."""
    version = workflow.current_version
    if version is None:
        return None
    now = now or timezone.now()
    window_start = now - timedelta(hours=settings.REVIEWAPP_DRIFT_WINDOW_HOURS)
    reference_start = window_start - timedelta(days=settings.REVIEWAPP_DRIFT_REFERENCE_DAYS)
    items = Item.objects.filter(workflow=workflow, workflow_version=version)
    current = _rows(items.filter(created_at__gte=window_start, created_at__lt=now))
    reference = _rows(items.filter(created_at__gte=reference_start, created_at__lt=window_start))
    enough = min(len(current), len(reference)) >= settings.REVIEWAPP_DRIFT_MIN_ITEMS
    features = (
        drift_features(reference, current, version.definition["input_schema"]) if enough else []
    )
    drifted = [feature for feature in features if feature.drifted]
    with transaction.atomic():
        previous = (
            DriftCheck.objects.select_for_update()
            .filter(workflow=workflow, version=version.number)
            .order_by("-checked_at")
            .first()
        )
        check = DriftCheck.objects.create(
            workflow=workflow,
            version=version.number,
            checked_at=now,
            reference_items=len(reference),
            current_items=len(current),
            features=[asdict(feature) | {"drifted": feature.drifted} for feature in features],
            drifted=bool(drifted),
        )
        if drifted and not (previous and previous.drifted):
            _raise_alarm(workflow, check, drifted)
    return check


def _raise_alarm(workflow: Workflow, check: DriftCheck, drifted: list[Feature]) -> None:
    audit_record(
        action="workflow.drift_detected",
        obj=workflow,
        chain=workflow.audit_chain,
        data={
            "version": check.version,
            "check": check.pk,
            "features": [
                {"name": f.name, "kind": f.kind, "value": round(f.value, 4), "alarm": f.alarm}
                for f in drifted
            ],
        },
    )
    listed = ", ".join(f"{f.name} ({f.kind}: {f.value:.2f} > {f.alarm:g})" for f in drifted)
    message = (
        f"What {workflow.name} (version {check.version}) receives or answers has drifted from "
        f"the reference window: {listed}. Check the monitoring page before trusting the "
        "auto-accepted answers."
    )
    managers = Membership.objects.filter(team_id=workflow.team_id, role=Role.MANAGER)
    notifications_create(
        Notification(
            recipient=membership.user,
            kind=NotificationKind.DRIFT_DETECTED,
            message=message,
            created_at=check.checked_at,
            email_to=membership.user.email,
        )
        for membership in managers.select_related("user")
    )


def recent_checks(workflow: Workflow, *, limit: int = 14) -> list[DriftCheck]:
    """The newest checks of the workflow's current version, oldest first."""
    if workflow.current_version is None:
        return []
    checks = DriftCheck.objects.filter(
        workflow=workflow, version=workflow.current_version.number
    ).order_by("-checked_at")
    return list(reversed(checks[:limit]))
