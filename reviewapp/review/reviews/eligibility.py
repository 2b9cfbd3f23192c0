"""Who may take which task: a reviewer's skills, languages and room under their caps.

The claim and a manager's assignment both hand out tasks by these rules, and both lock the
reviewer's profile first so that two of them never both see room under a cap.
"""

from functools import cache
from typing import cast

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.errors import Conflict, Forbidden
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskSkip, TaskStatus
from reviewapp.review.reviews.statements import columns, hot_cursor, instance, quote


class CapacityReached(Conflict):
    """The reviewer (or the assignee) already holds as many tasks as they may."""


class SkillsMissing(Forbidden):
    """The queue needs skills the reviewer does not have."""


def locked_profile(user) -> ReviewerProfile:
    """The user's profile, locked: one reviewer's claims and assignments take turns on it, so
    two of them can never both see room under a cap and both take a task."""
    if connection.vendor == "postgresql":
        with hot_cursor() as cursor:
            cursor.execute(locked_profile_sql(), [user.pk])
            row = cursor.fetchone()
        profile = None if row is None else instance(ReviewerProfile, row)
    else:
        profile = ReviewerProfile.objects.select_for_update().filter(user=user).first()
    if profile is None:  # the reviewer's first claim or assignment
        profile, _ = ReviewerProfile.objects.select_for_update().get_or_create(user=user)
    return cast(ReviewerProfile, profile)


def missing_skills(queue: Queue, profile: ReviewerProfile) -> list[str]:
    return sorted(set(queue.required_skills) - set(profile.skills))


def live_claims(now) -> Q:
    """Claims the caps count: an expired lease is anyone's to take (the claim takes those too)."""
    return Q(status=TaskStatus.CLAIMED, lease_expires_at__gt=now)


def room_under_caps(
    queue: Queue, profile: ReviewerProfile, *, held: int, held_in_queue: int
) -> int | None:
    """How many more tasks of ``queue`` someone holding ``held`` live claims (``held_in_queue``
    of them in this queue) may take under both caps (``None``: no cap applies)."""
    rooms = []
    if profile.max_claims is not None:
        rooms.append(profile.max_claims - held)
    if queue.max_claims_per_reviewer is not None:
        rooms.append(queue.max_claims_per_reviewer - held_in_queue)
    return max(0, min(rooms)) if rooms else None


def room_left(queue: Queue, reviewer, profile: ReviewerProfile, now) -> int | None:
    """How many more tasks of ``queue`` the reviewer may hold (``None``: no cap applies).

    Counts only what a cap needs: no query at all when neither cap applies.
    """
    live = ReviewTask.objects.filter(live_claims(now), claimed_by=reviewer)
    return room_under_caps(
        queue,
        profile,
        held=live.count() if profile.max_claims is not None else 0,
        held_in_queue=(
            live.filter(queue=queue).count() if queue.max_claims_per_reviewer is not None else 0
        ),
    )


def claimable_by(
    reviewer, profile: ReviewerProfile, queue: Queue, *, honour_skips: bool = True, lock=True
):
    """Tasks of ``queue`` the reviewer may be given, locked as they are read, whoever else asks
    (``lock=False``: only read, for a preview or for tasks the caller has locked already).

    Leaves out tasks the reviewer skipped (unless a manager assigns them: ``honour_skips``),
    tasks in a language they do not read, and tasks of an item they hold or decided another
    task of (four-eyes: two tasks of one item go to two people). Each rule is a filter on the
    row or an indexed ``NOT EXISTS`` probe (task_skip_idx, task_item_holder_idx), so the claim
    still walks task_claim_order_idx.
    """
    skipped = TaskSkip.objects.filter(task=OuterRef("pk"), reviewer=reviewer)
    same_item = ReviewTask.objects.filter(
        item=OuterRef("item"),
        claimed_by=reviewer,
        status__in=[TaskStatus.CLAIMED, TaskStatus.DECIDED],
    ).exclude(pk=OuterRef("pk"))
    tasks = ReviewTask.objects.all()
    if lock:
        tasks = tasks.select_for_update(skip_locked=True, of=("self",))
    tasks = (
        tasks.filter(queue=queue)
        # Written as an OR, PostgreSQL runs the probe per candidate and only for tasks that
        # share their item; a plain NOT EXISTS becomes an anti-join the planner may serve by
        # reading every task the reviewer ever decided.
        .filter(Q(shares_item=False) | ~Exists(same_item))
    )
    if honour_skips:
        tasks = tasks.filter(~Exists(skipped))
    if queue.language_field:
        # A task whose item names no language is anyone's.
        tasks = tasks.filter(Q(language="") | Q(language__in=profile.languages))
    return tasks


CLAIM_FIELDS = [
    "status",
    "claimed_by",
    "claim_token",
    "claimed_at",
    "last_seen_at",
    "lease_expires_at",
]
CLAIM_ORDER = ("-claim_score", F("due_at").asc(nulls_last=True), "created_at", "id")


@cache
def locked_profile_sql() -> str:
    table = quote(ReviewerProfile._meta.db_table)
    profile = columns(ReviewerProfile, "p")
    return f"SELECT {profile} FROM {table} p WHERE p.user_id = %s FOR UPDATE"  # noqa: S608


@cache
def claim_next_sql(*, languages: bool) -> str:
    """``claimable_by`` + open + ``CLAIM_ORDER``, as the one statement that claims on PostgreSQL.

    The same rules as the queryset, written out: the claim runs all day and a compiled
    queryset cost more CPU than the database spends on it. Parameters: ``reviewer``, ``queue``,
    the claim's ``token``, ``claimed_at``, ``last_seen_at``, ``lease_expires_at``, and
    ``languages`` (a list) when the queue has a language field. The statuses are constants, so
    a prepared generic plan still walks task_claim_order_idx (its condition names 'open').
    """
    task = quote(ReviewTask._meta.db_table)
    skip = quote(TaskSkip._meta.db_table)
    held = f"'{TaskStatus.CLAIMED.value}', '{TaskStatus.DECIDED.value}'"
    language = " AND (c.language = '' OR c.language = ANY(%(languages)s))" if languages else ""
    # From model metadata and the statuses' own constants; every value is a parameter.
    candidate = (
        f"SELECT c.id FROM {task} c "  # noqa: S608
        f"WHERE c.queue_id = %(queue)s AND c.status = '{TaskStatus.OPEN.value}' "
        # four-eyes: never a second task of an item the reviewer holds or decided (see
        # claimable_by for why it is an OR)
        f"AND (NOT c.shares_item OR NOT EXISTS (SELECT 1 FROM {task} o "
        "WHERE o.claimed_by_id = %(reviewer)s AND o.item_id = c.item_id "
        f"AND o.status IN ({held}) AND o.id <> c.id)) "
        f"AND NOT EXISTS (SELECT 1 FROM {skip} s "
        f"WHERE s.reviewer_id = %(reviewer)s AND s.task_id = c.id){language} "
        "ORDER BY c.claim_score DESC, c.due_at ASC NULLS LAST, c.created_at ASC, c.id ASC "
        "LIMIT 1 FOR UPDATE OF c SKIP LOCKED"
    )
    returning = columns(ReviewTask, task)
    return (
        f"UPDATE {task} SET status = '{TaskStatus.CLAIMED.value}', "  # noqa: S608
        "claimed_by_id = %(reviewer)s, claim_token = %(token)s, claimed_at = %(claimed_at)s, "
        "last_seen_at = %(last_seen_at)s, lease_expires_at = %(lease_expires_at)s "
        f"WHERE id = ({candidate}) RETURNING {returning}"
    )
