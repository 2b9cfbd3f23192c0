"""A reviewer's claim on a task: claim (atomic, leased), extend, release, skip, and the return
of a task to its queue when a lease runs out or someone takes the claim away."""

import uuid
from functools import cache
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.metrics import observe, series
from reviewapp.core.permissions import REVIEW_QUEUE, objects_for_user
from reviewapp.review.reviews.eligibility import (
    CLAIM_FIELDS,
    CLAIM_ORDER,
    CapacityReached,
    SkillsMissing,
    claim_next_sql,
    claimable_by,
    locked_profile,
    missing_skills,
    room_left,
)
from reviewapp.review.reviews.events import task_audit
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskSkip, TaskStatus
from reviewapp.review.reviews.statements import RowReader, columns, hot_cursor, instance, quote
from workflows.models import ItemStatus


class ClaimLost(Conflict):
    """The caller does not hold the current claim of the task."""


class SkipInvalid(InvalidRequest):
    """A skip without a usable reason."""

    detail = "The skip is not valid."


SKIP_REASON_MAX_LENGTH = TaskSkip._meta.get_field("reason").max_length or 500


def _claim_next(
    reviewer, profile: ReviewerProfile, queue: Queue, claim: dict[str, Any]
) -> ReviewTask | None:
    """Lock the next open task the reviewer may take and write ``claim`` into it.

    On PostgreSQL one statement, ``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP
    LOCKED) RETURNING ...``: the select and the write of the claim are one round trip instead
    of two (the claim is the hottest write there is). Elsewhere (the quick start's SQLite) the
    ORM's ``claimable_by`` in claim order, under the IMMEDIATE transaction.
    """
    if connection.vendor != "postgresql":
        task = (
            claimable_by(reviewer, profile, queue)
            .filter(status=TaskStatus.OPEN)
            .order_by(*CLAIM_ORDER)
            .first()
        )
        if task is not None:
            for name, value in claim.items():
                setattr(task, name, value)
            task.save(update_fields=CLAIM_FIELDS)
        return task
    languages = bool(queue.language_field)
    values = {
        "reviewer": reviewer.pk,
        "queue": queue.pk,
        "token": claim["claim_token"],
        "claimed_at": claim["claimed_at"],
        "last_seen_at": claim["last_seen_at"],
        "lease_expires_at": claim["lease_expires_at"],
    }
    if languages:
        values["languages"] = list(profile.languages)
    with hot_cursor() as cursor:
        cursor.execute(claim_next_sql(languages=languages), values)
        row = cursor.fetchone()
    return None if row is None else cast(ReviewTask, instance(ReviewTask, row))


@transaction.atomic(durable=True)
def review_task_claim(*, queue: Queue, reviewer) -> ReviewTask | None:
    """Hand the reviewer the next task of the queue, or the one they already hold.

    The next task is the open one with the highest ``claim_score`` (see ``claim_score``) among
    those the reviewer may take (``claimable_by``). Refuses with ``SkillsMissing`` (403) when
    the queue needs skills the reviewer lacks and ``CapacityReached`` (409) when they hold as
    many tasks as their cap (or the queue's) allows.

    ``SKIP LOCKED`` lets concurrent reviewers pass over each other's candidate rows instead of
    queueing behind them; on SQLite (no row locks) the IMMEDIATE transaction serialises claims.
    """
    now = timezone.now()
    profile = locked_profile(reviewer)
    # The hot path of every reviewer: the caller's queue (with its workflow) is attached to
    # the task instead of joined again, so a claim is profile, held?, next, update, audit.
    held = _held(queue, reviewer, now)
    if held is not None:
        held = cast(ReviewTask, held)
        held.queue = queue
        return held
    missing = missing_skills(queue, profile)
    if missing:
        raise SkillsMissing(f"{queue.name} needs skills you do not have yet: {', '.join(missing)}.")
    if room_left(queue, reviewer, profile, now) == 0:
        raise CapacityReached(
            "You hold as many tasks as you may at once; decide or release one first."
        )
    claim = {
        "status": TaskStatus.CLAIMED,
        "claimed_by": reviewer,
        "claim_token": uuid.uuid4(),
        "claimed_at": now,
        "last_seen_at": now,
        "lease_expires_at": now + settings.REVIEWAPP_LEASE,
    }
    # Open tasks first (served by task_claim_order_idx), then claims whose lease ran out:
    # those are claimable at once, the sweep only tidies up the ones nobody asks for.
    task = _claim_next(reviewer, profile, queue, claim)
    previous_holder = None
    if task is None:
        task = (
            claimable_by(reviewer, profile, queue)
            .filter(status=TaskStatus.CLAIMED, lease_expires_at__lte=now)
            .order_by("lease_expires_at", "id")
            .first()
        )
        if task is None:
            return None
        previous_holder = task.claimed_by_id
        for name, value in claim.items():
            setattr(task, name, value)
        task.save(update_fields=CLAIM_FIELDS)
    task.queue = queue
    observe(
        series.REVIEW_CLAIMS,
        (now - task.created_at).total_seconds(),
        workflow=queue.workflow_id,
        queue=queue.slug,
    )
    task_audit(
        task,
        "task.claimed",
        reviewer,
        lease_expires_at=claim["lease_expires_at"].isoformat(),
        taken_over_from=previous_holder,
    )
    return task


@transaction.atomic(durable=True)
def review_task_release(*, task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    task = locked_claim(task, reviewer, claim_token)
    review_task_reopen(task=task)
    task_audit(task, "task.released", reviewer)
    return task


@transaction.atomic(durable=True)
def review_task_extend(*, task: ReviewTask, reviewer, claim_token) -> ReviewTask:
    """The heartbeat: keep the holder's live claim for another lease from now.

    Only the current holder of an unexpired claim may extend it (else ``ClaimLost``): a lease
    that ran out may already be someone else's. It never shortens a lease, so a manager's
    assignment (ASSIGNMENT_LEASE) keeps its working day. Not audited: the claim does not change,
    and one row a minute per open page would drown the trail (``task.claimed`` records the
    claim, ``task.lease_expired`` its loss).
    """
    task = locked_claim(task, reviewer, claim_token)
    now = timezone.now()
    task.last_seen_at = now  # a sign of life: idle-claim rungs count from here
    fields = ["last_seen_at"]
    extended = now + settings.REVIEWAPP_LEASE
    if task.lease_expires_at is None or extended > task.lease_expires_at:
        task.lease_expires_at = extended
        fields.append("lease_expires_at")
    task.save(update_fields=fields)
    return task


@transaction.atomic(durable=True)
def review_task_skip(*, task: ReviewTask, reviewer, claim_token, reason: str) -> ReviewTask:
    """Hand the task back to the queue with a reason; the reviewer's claims pass it over."""
    task = locked_claim(task, reviewer, claim_token)
    reason = (reason or "").strip()
    if not reason:
        raise SkipInvalid({"reason": ["Say why you skip this task."]})
    if len(reason) > SKIP_REASON_MAX_LENGTH:
        raise SkipInvalid(
            {"reason": [f"Keep the reason under {SKIP_REASON_MAX_LENGTH} characters."]}
        )
    TaskSkip.objects.create(task=task, reviewer=reviewer, reason=reason, skipped_at=timezone.now())
    review_task_reopen(task=task)
    task_audit(task, "task.skipped", reviewer, reason=reason)
    return task


def review_task_reopen(*, task: ReviewTask) -> None:
    """``claimed -> open``: the task goes back to its queue and its claim token stops counting.

    Runs in the caller's transaction on a task the caller locked; the caller records why (a
    release, a skip, a lost lease, a manager or an escalation taking it back).
    """
    task.status = TaskStatus.OPEN
    task.claimed_by = None
    task.claim_token = None
    task.claimed_at = None
    task.last_seen_at = None
    task.lease_expires_at = None
    task.save(update_fields=CLAIM_FIELDS)


def review_tasks_release_expired() -> int:
    """Beat sweep: return abandoned claims to their queue, one audited transaction each."""
    now = timezone.now()
    expired = list(
        ReviewTask.objects.filter(status=TaskStatus.CLAIMED, lease_expires_at__lte=now).values_list(
            "pk", flat=True
        )[:1000]
    )
    released = 0
    for task_id in expired:
        with transaction.atomic(durable=True):
            task = (
                ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("queue__workflow", "item")
                .filter(pk=task_id, status=TaskStatus.CLAIMED, lease_expires_at__lte=now)
                .first()
            )
            if task is None:  # decided, renewed or claimed by someone else meanwhile
                continue
            holder = task.claimed_by_id
            if task.item.status == ItemStatus.COMPLETED:
                # The item was settled without this review (an approval's deadline passed while
                # it was held): returning it to the queue would ask someone for a wasted answer.
                task.status = TaskStatus.CANCELLED
                task.lease_expires_at = None
                task.save(update_fields=["status", "lease_expires_at"])
                task_audit(task, "task.cancelled", reason="item settled", previous_holder=holder)
                continue
            review_task_reopen(task=task)
            task_audit(task, "task.lease_expired", previous_holder=holder)
            released += 1
    return released


def locked_claim(task: ReviewTask, reviewer, claim_token, *related: str) -> ReviewTask:
    """Re-read the task under lock and insist the caller holds its current, live claim.

    ``related``: more relations to read in the same query (the decision's item, prediction
    and gold showing).
    """
    if connection.vendor == "postgresql":
        reader = locked_task_reader(("queue__workflow", *related))
        with hot_cursor() as cursor:
            cursor.execute(f"{reader.select} WHERE t.id = %s LIMIT 1 FOR UPDATE OF t", [task.pk])
            row = cursor.fetchone()
        locked = None if row is None else reader.read(row)
    else:
        locked = (
            ReviewTask.objects.select_for_update(of=("self",))
            .select_related("queue__workflow", *related)
            .filter(pk=task.pk)
            .first()
        )
    if locked is None:
        raise ReviewTask.DoesNotExist("The task does not exist.")
    locked = cast(ReviewTask, locked)
    token = str(claim_token or "")
    if (
        locked.status != TaskStatus.CLAIMED
        or locked.claimed_by_id != reviewer.pk
        or str(locked.claim_token) != token
    ):
        raise ClaimLost("You do not hold the current claim on this task.")
    if locked.lease_expires_at is None or locked.lease_expires_at <= timezone.now():
        raise ClaimLost("Your claim on this task has expired.")
    return locked


def _held(queue: Queue, reviewer, now) -> ReviewTask | None:
    """The reviewer's live claim in ``queue``, if they hold one (the oldest)."""
    if connection.vendor != "postgresql":
        return (
            ReviewTask.objects.filter(
                queue=queue,
                status=TaskStatus.CLAIMED,
                claimed_by=reviewer,
                lease_expires_at__gt=now,
            )
            .order_by("claimed_at")
            .first()
        )
    with hot_cursor() as cursor:
        cursor.execute(held_sql(), [queue.pk, reviewer.pk, now])
        row = cursor.fetchone()
    return None if row is None else cast(ReviewTask, instance(ReviewTask, row))


@cache
def held_sql() -> str:
    task = quote(ReviewTask._meta.db_table)
    # From model metadata and the statuses' own constants; every value is a parameter.
    return (
        f"SELECT {columns(ReviewTask, 't')} FROM {task} t "  # noqa: S608
        f"WHERE t.queue_id = %s AND t.status = '{TaskStatus.CLAIMED.value}' "
        "AND t.claimed_by_id = %s AND t.lease_expires_at > %s ORDER BY t.claimed_at LIMIT 1"
    )


@cache
def locked_task_reader(related: tuple[str, ...]) -> RowReader:
    return RowReader(ReviewTask, "t", related)


def review_tasks_release_lost_access(*, user, acting_user, reason: str) -> int:
    """Hand back to their queues the tasks ``user`` holds where they may no longer review: a
    queue their roles no longer reach, or one needing a skill they no longer have. Each release
    is audited ``task.released`` with the reason. Runs in the caller's transaction (the one that
    took the access away: ``core.accounts.hooks.access_lost``)."""
    reviewable = set(objects_for_user(user, REVIEW_QUEUE, Queue).values_list("pk", flat=True))
    skills = set(
        ReviewerProfile.objects.filter(user=user).values_list("skills", flat=True).first() or []
    )
    held = (
        ReviewTask.objects.select_for_update(of=("self",))
        .select_related("queue__workflow")
        .filter(claimed_by=user, status=TaskStatus.CLAIMED)
        .order_by("pk")
    )
    released = 0
    for task in held:
        if task.queue_id in reviewable and set(task.queue.required_skills) <= skills:
            continue
        review_task_reopen(task=task)
        task_audit(
            task, "task.released", acting_user, previous_holder=user.get_username(), reason=reason
        )
        released += 1
    return released
