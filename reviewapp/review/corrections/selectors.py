"""Reads of the reason taxonomy for the reviewer's reason picker."""

from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from reviewapp.review.corrections.models import ReasonApplies, ReasonCode


@dataclass(frozen=True)
class ReasonChoice:
    code: str
    label: str
    # Labels from the top of the tree down to this reason: ("Wrong category", "Close call").
    path_labels: tuple[str, ...]

    @property
    def parent_labels(self) -> tuple[str, ...]:
        return self.path_labels[:-1]

    @property
    def depth(self) -> int:
        return len(self.path_labels) - 1


def reason_choices(*, workflow) -> dict[str, list[ReasonChoice]]:
    """The live reasons a reviewer may give, per outcome (``correct``, ``reject``), each with
    its parents' labels; children right after their parent (sorted by the labels along the
    path). One query: parents may be retired or apply to the other outcome, and still show."""
    by_pk = {row.pk: row for row in _reason_rows(workflow.pk)}

    def labels(reason: _Reason) -> tuple[str, ...]:
        parent = by_pk.get(reason.parent_id) if reason.parent_id else None
        return (*labels(parent), reason.label) if parent else (reason.label,)

    choices: dict[str, list[ReasonChoice]] = {}
    for outcome in (ReasonApplies.CORRECT, ReasonApplies.REJECT):
        offered = [
            ReasonChoice(code=reason.code, label=reason.label, path_labels=labels(reason))
            for reason in by_pk.values()
            if reason.active and reason.applies_to in (outcome, ReasonApplies.BOTH)
        ]
        choices[outcome] = sorted(
            offered, key=lambda choice: [label.casefold() for label in choice.path_labels]
        )
    return choices


class _Reason(NamedTuple):
    pk: int
    code: str
    label: str
    parent_id: int | None
    applies_to: str
    active: bool


def _reason_rows(workflow_id: int) -> list[_Reason]:
    # Read for every task a reviewer is shown: plain SQL, as building the queryset cost more
    # CPU than the database spent on it.
    with connection.cursor() as cursor:
        cursor.execute(_REASONS_SQL, [workflow_id])
        return [_Reason(*row) for row in cursor.fetchall()]


_REASONS_SQL = (
    "SELECT id, code, label, parent_id, applies_to, active "  # noqa: S608
    f"FROM {ReasonCode._meta.db_table} WHERE workflow_id = %s"
)
