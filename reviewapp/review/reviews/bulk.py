"""A manager's bulk actions on tasks they selected: assign, unassign, change priority.

The preview and the action share one plan (``_plan``): what each task would become, how many
each reviewer gets, which tasks are skipped and why, and the caps that limited it. The preview
reads; the action locks the reviewers' profiles and the selected tasks, plans again on what it
locked and applies that plan in one audited transaction, so it does exactly what a preview
taken at that moment would have said. A task claimed since the preview is skipped and reported
(the action re-reads every task under its lock: a compare-and-swap on the state the plan saw),
and a task someone is claiming at this very moment is passed over (``SKIP LOCKED``), never
waited for or taken from them. Nothing is cut silently: every selected task is either changed
or counted under a reason.
"""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.audit.services import AuditEntry, audit_record_many
from reviewapp.review.reviews.access import require_queue_manager
from reviewapp.review.reviews.assignments import (
    MAX_BULK_ASSIGN,
    TaskActionInvalid,
    _assign,
    _require_reviewer,
)
from reviewapp.review.reviews.claims import review_task_reopen
from reviewapp.review.reviews.eligibility import claimable_by, locked_profile, missing_skills
from reviewapp.review.reviews.events import task_audit_entry
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus
from reviewapp.review.reviews.scoring import review_task_claim_score

MAX_BULK_TASKS = MAX_BULK_ASSIGN
# The priority column is a small integer; beyond this a number is a typo.
MAX_PRIORITY = 10_000


class BulkAction(models.TextChoices):
    ASSIGN = "assign", "Assign"
    UNASSIGN = "unassign", "Unassign"
    PRIORITY = "priority", "Change priority"


# Why a selected task is left as it is, in the words the preview and the result use.
GONE = "no longer open (decided or cancelled)"
NOT_IN_QUEUE = "not a task of this queue"
BUSY = "being claimed or changed by someone at this moment"
HELD = "already held by a reviewer (unassign it first)"
OVER_CAPS = "over the chosen reviewers' caps"
NO_SKILLS = "no chosen reviewer has the skills this queue needs"
NOT_ELIGIBLE = (
    "no chosen reviewer may take it (a language they do not review, or they hold or "
    "decided another task of the same item)"
)
NOT_ASSIGNED = "not assigned to anyone"
SAME_PRIORITY = "already at that priority"


@dataclass
class ReviewerRoom:
    """One chosen reviewer's caps as the plan found them."""

    name: str
    holds: int  # live claims, all queues
    holds_here: int  # live claims of this queue
    personal_cap: int | None
    queue_cap: int | None
    lacks: list[str]
    room: int | None  # None: no cap applies

    @property
    def description(self) -> str:
        if self.lacks:
            return f"{self.name} lacks skills this queue needs ({', '.join(self.lacks)})"
        caps = []
        if self.personal_cap is not None:
            caps.append(f"holds {self.holds} of a personal cap of {self.personal_cap}")
        if self.queue_cap is not None:
            caps.append(f"holds {self.holds_here} of this queue's cap of {self.queue_cap}")
        if not caps:
            return f"{self.name}: no cap applies"
        more = f"may take {self.room} more" if self.room else "may take no more"
        return f"{self.name} {'; '.join(caps)}: {more}"


@dataclass
class BulkPlan:
    action: str
    selected: int
    priority: int | None = None
    # task id -> the reviewer it goes to (assign), or None (unassign, priority)
    changes: dict[int, Any] = field(default_factory=dict)
    skipped: dict[str, list[int]] = field(default_factory=dict)  # reason -> task ids
    rooms: list[ReviewerRoom] = field(default_factory=list)
    left_out: int = 0  # matched the filter beyond what one action takes

    @property
    def changed(self) -> int:
        return len(self.changes)

    @property
    def skipped_count(self) -> int:
        return sum(len(ids) for ids in self.skipped.values())

    @property
    def per_reviewer(self) -> list[tuple[str, int]]:
        counts = Counter(
            reviewer.get_username() for reviewer in self.changes.values() if reviewer is not None
        )
        return sorted(counts.items())

    @property
    def skipped_reasons(self) -> list[tuple[str, int]]:
        return sorted(((reason, len(ids)) for reason, ids in self.skipped.items()), key=_most)

    def summary(self) -> str:
        """The result in one sentence: what changed and, with reasons, what did not."""
        verb = {
            BulkAction.ASSIGN: "assigned",
            BulkAction.UNASSIGN: "put back in the queue",
            BulkAction.PRIORITY: f"set to priority {self.priority}",
        }[BulkAction(self.action)]
        text = f"{self.changed} task{_s(self.changed)} {verb}"
        if self.action == BulkAction.ASSIGN and self.changes:
            text += " (" + ", ".join(f"{name}: {n}" for name, n in self.per_reviewer) + ")"
        if self.skipped:
            reasons = "; ".join(f"{n} {reason}" for reason, n in self.skipped_reasons)
            text += f"; {self.skipped_count} skipped: {reasons}"
        if self.left_out:
            text += (
                f"; {self.left_out} more matching task{_s(self.left_out)} not selected "
                f"(one action takes at most {MAX_BULK_TASKS})"
            )
        return text + "."


def _most(pair: tuple[str, int]) -> tuple[int, str]:
    return (-pair[1], pair[0])


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _check(
    *, queue: Queue, task_ids: Sequence[int], action: str, reviewers, priority: int | None
) -> None:
    if action not in BulkAction.values:
        raise TaskActionInvalid({"action": ["Choose assign, unassign or change priority."]})
    if not 1 <= len(task_ids) <= MAX_BULK_TASKS:
        raise TaskActionInvalid({"tasks": [f"Select between 1 and {MAX_BULK_TASKS} tasks."]})
    if action == BulkAction.ASSIGN:
        if not reviewers:
            raise TaskActionInvalid({"reviewer": ["Choose who gets the tasks."]})
        for reviewer in reviewers:
            _require_reviewer(reviewer, queue)
    if action == BulkAction.PRIORITY and (
        priority is None or not -MAX_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise TaskActionInvalid(
            {"priority": [f"Give a whole number from -{MAX_PRIORITY} to {MAX_PRIORITY}."]}
        )


def _room(queue: Queue, reviewer, profile: ReviewerProfile, now: datetime) -> ReviewerRoom:
    """Like ``eligibility.room_left``, with the figures the preview shows."""
    live = ReviewTask.objects.filter(
        claimed_by=reviewer, status=TaskStatus.CLAIMED, lease_expires_at__gt=now
    )
    holds = live.count() if profile.max_claims is not None else 0
    holds_here = (
        live.filter(queue=queue).count() if queue.max_claims_per_reviewer is not None else 0
    )
    rooms = []
    if profile.max_claims is not None:
        rooms.append(profile.max_claims - holds)
    if queue.max_claims_per_reviewer is not None:
        rooms.append(queue.max_claims_per_reviewer - holds_here)
    lacks = missing_skills(queue, profile)
    return ReviewerRoom(
        name=reviewer.get_username(),
        holds=holds,
        holds_here=holds_here,
        personal_cap=profile.max_claims,
        queue_cap=queue.max_claims_per_reviewer,
        lacks=lacks,
        room=0 if lacks else (max(0, min(rooms)) if rooms else None),
    )


def _plan(
    *,
    queue: Queue,
    task_ids: Sequence[int],
    found: dict[int, ReviewTask],
    busy: set[int],
    action: str,
    reviewers: Sequence,
    profiles: dict[int, ReviewerProfile],
    priority: int | None,
    now: datetime,
) -> BulkPlan:
    plan = BulkPlan(action=action, selected=len(task_ids), priority=priority)
    skipped: dict[str, list[int]] = defaultdict(list)
    candidates = []
    for task_id in task_ids:
        task = found.get(task_id)
        if task is None:
            skipped[BUSY if task_id in busy else NOT_IN_QUEUE].append(task_id)
        elif task.status not in (TaskStatus.OPEN, TaskStatus.CLAIMED):
            skipped[GONE].append(task_id)
        elif action == BulkAction.ASSIGN and task.status == TaskStatus.CLAIMED:
            skipped[HELD].append(task_id)
        elif action == BulkAction.UNASSIGN and task.status == TaskStatus.OPEN:
            skipped[NOT_ASSIGNED].append(task_id)
        elif action == BulkAction.PRIORITY and task.priority == priority:
            skipped[SAME_PRIORITY].append(task_id)
        else:
            candidates.append(task_id)
    if action != BulkAction.ASSIGN:
        plan.changes = dict.fromkeys(candidates)
        plan.skipped = dict(skipped)
        return plan

    rooms = [_room(queue, r, profiles[r.pk], now) for r in reviewers]
    plan.rooms = rooms
    skilled = [i for i, room in enumerate(rooms) if not room.lacks]
    # Which candidates each reviewer may take (language, four-eyes): one query per reviewer.
    takes = {
        i: set(
            claimable_by(
                reviewers[i], profiles[reviewers[i].pk], queue, honour_skips=False, lock=False
            )
            .filter(pk__in=candidates)
            .values_list("pk", flat=True)
        )
        for i in skilled
    }
    left = {i: rooms[i].room for i in skilled}
    turn = 0
    for task_id in candidates:
        # Round robin in the reviewers' order, each within their room.
        order = [skilled[(turn + k) % len(skilled)] for k in range(len(skilled))]
        eligible = [i for i in order if task_id in takes[i]]
        with_room = [i for i in eligible if (room := left[i]) is None or room > 0]
        if with_room:
            chosen = with_room[0]
            plan.changes[task_id] = reviewers[chosen]
            if (room := left[chosen]) is not None:
                left[chosen] = room - 1
            turn = skilled.index(chosen) + 1
        elif eligible:
            skipped[OVER_CAPS].append(task_id)
        elif not skilled:
            skipped[NO_SKILLS].append(task_id)
        else:
            skipped[NOT_ELIGIBLE].append(task_id)
    plan.skipped = dict(skipped)
    return plan


def _profile(reviewer) -> ReviewerProfile:
    return ReviewerProfile.objects.filter(user=reviewer).first() or ReviewerProfile(user=reviewer)


def _ordered_reviewers(reviewers) -> list:
    return sorted({r.pk: r for r in reviewers}.values(), key=lambda r: r.get_username())


def review_tasks_bulk_preview(
    *,
    queue: Queue,
    task_ids: Sequence[int],
    action: str,
    acting_user,
    reviewers: Sequence = (),
    priority: int | None = None,
    left_out: int = 0,
) -> BulkPlan:
    """What ``review_tasks_bulk_apply`` would do now, without doing it (nothing is locked)."""
    require_queue_manager(acting_user, queue)
    reviewers = _ordered_reviewers(reviewers)
    _check(queue=queue, task_ids=task_ids, action=action, reviewers=reviewers, priority=priority)
    found = ReviewTask.objects.filter(queue=queue, pk__in=task_ids).in_bulk()
    plan = _plan(
        queue=queue,
        task_ids=task_ids,
        found=found,
        busy=set(),
        action=action,
        reviewers=reviewers,
        profiles={r.pk: _profile(r) for r in reviewers},
        priority=priority,
        now=timezone.now(),
    )
    plan.left_out = left_out
    return plan


@transaction.atomic(durable=True)
def review_tasks_bulk_apply(
    *,
    queue: Queue,
    task_ids: Sequence[int],
    action: str,
    acting_user,
    reviewers: Sequence = (),
    priority: int | None = None,
    left_out: int = 0,
) -> BulkPlan:
    """Apply the bulk action to the selected tasks as they are now; returns what it did."""
    require_queue_manager(acting_user, queue)
    reviewers = _ordered_reviewers(reviewers)
    _check(queue=queue, task_ids=task_ids, action=action, reviewers=reviewers, priority=priority)
    now = timezone.now()
    # Profiles first, in a fixed order (a claim locks one profile, then its task): two bulk
    # actions and the claims they race never wait on each other in a circle.
    profiles = {r.pk: locked_profile(r) for r in sorted(reviewers, key=lambda r: r.pk)}
    found = (
        ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("claimed_by")
        .filter(queue=queue, pk__in=task_ids)
        .in_bulk()
    )
    busy = set(
        ReviewTask.objects.filter(queue=queue, pk__in=set(task_ids) - set(found)).values_list(
            "pk", flat=True
        )
    )
    plan = _plan(
        queue=queue,
        task_ids=task_ids,
        found=found,
        busy=busy,
        action=action,
        reviewers=reviewers,
        profiles=profiles,
        priority=priority,
        now=now,
    )
    plan.left_out = left_out
    entries = []
    for task_id, reviewer in plan.changes.items():
        task = found[task_id]
        task.queue = queue
        if action == BulkAction.ASSIGN:
            _assign(task, reviewer, now)
            entries.append(
                task_audit_entry(
                    task,
                    "task.reassigned",
                    acting_user,
                    to=reviewer.get_username(),  # type: ignore[attr-defined]
                    previous_holder=None,
                    bulk=True,
                )
            )
        elif action == BulkAction.UNASSIGN:
            holder = task.claimed_by.get_username() if task.claimed_by else None
            review_task_reopen(task=task)
            entries.append(
                task_audit_entry(
                    task, "task.unassigned", acting_user, previous_holder=holder, bulk=True
                )
            )
        else:
            before = task.priority
            task.priority = priority  # type: ignore[assignment]
            task.claim_score = review_task_claim_score(task, queue=queue)
            task.save(update_fields=["priority", "claim_score"])
            entries.append(
                task_audit_entry(
                    task,
                    "task.priority_changed",
                    acting_user,
                    before=before,
                    after=priority,
                    bulk=True,
                )
            )
    entries.append(
        AuditEntry(
            action="queue.tasks_bulk_changed",
            obj=queue,
            actor=acting_user,
            data={
                "action": action,
                "selected": plan.selected,
                "changed": plan.changed,
                "per_reviewer": dict(plan.per_reviewer),
                "priority": priority,
                "skipped": dict(plan.skipped_reasons),
                "caps": [room.description for room in plan.rooms],
                "not_selected": left_out,
            },
        )
    )
    audit_record_many(entries, chain=queue.workflow.audit_chain)
    return plan
