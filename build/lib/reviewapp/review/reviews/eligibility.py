"""Who may take which task: a reviewer's skills, languages and room under their caps.

The claim and a manager's assignment both hand out tasks by these rules, and both lock the
reviewer's profile first so that two of them never both see room under a cap.
"""

from typing import cast

from django.db.models import Exists, F, OuterRef, Q

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.errors import Conflict, Forbidden
from reviewapp.review.reviews.compiled import MARKER_IDS, compiled
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskSkip, TaskStatus


class CapacityReached(Conflict):
    """The reviewer (or the assignee) already holds as many tasks as they may."""


class SkillsMissing(Forbidden):
    """The queue needs skills the reviewer does not have."""


def locked_profile(user) -> ReviewerProfile:
    """The user's profile, locked: one reviewer's claims and assignments take turns on it, so
    two of them can never both see room under a cap and both take a task."""
    query = compiled(
        ("locked_profile",),
        lambda user: ReviewerProfile.objects.select_for_update().filter(user_id=user)[:1],
        user=MARKER_IDS[0],
    )
    profile = query.first(user=user.pk)
    if profile is None:  # the reviewer's first claim or assignment
        profile, _ = ReviewerProfile.objects.select_for_update().get_or_create(user=user)
    return cast(ReviewerProfile, profile)


def missing_skills(queue: Queue, profile: ReviewerProfile) -> list[str]:
    return sorted(set(queue.required_skills) - set(profile.skills))


def room_left(queue: Queue, reviewer, profile: ReviewerProfile, now) -> int | None:
    """How many more tasks of ``queue`` the reviewer may hold (``None``: no cap applies).

    Counts live claims only: an expired lease is anyone's to take (the claim takes those too).
    """
    live = ReviewTask.objects.filter(
        claimed_by=reviewer, status=TaskStatus.CLAIMED, lease_expires_at__gt=now
    )
    rooms = []
    if profile.max_claims is not None:
        rooms.append(profile.max_claims - live.count())
    if queue.max_claims_per_reviewer is not None:
        rooms.append(queue.max_claims_per_reviewer - live.filter(queue=queue).count())
    return max(0, min(rooms)) if rooms else None


def claimable_by(reviewer, profile: ReviewerProfile, queue: Queue, *, honour_skips: bool = True):
    """Tasks of ``queue`` the reviewer may be given, locked as they are read, whoever else asks.

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
    tasks = (
        ReviewTask.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(queue=queue)
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
