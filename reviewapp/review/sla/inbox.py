"""Each person's in-app notifications: the bell's unread count, the inbox, marking them read.

Notifications are written by the SLA sweep (breaches, escalations) and the learning stage's
monitors; whoever writes them goes through ``notifications_create`` so that the recipients'
bells are recounted. Every page a signed-in person opens shows the bell, so its count is kept
in the cache (one key per person, dropped when their notifications change); a miss costs one
``COUNT`` over ``notification_unread_idx``, which holds only unread rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from reviewapp.core.permissions import User
from reviewapp.review.sla.models import Notification

# The bell says "99+" past this: counting further would read more of the index for nothing.
UNREAD_SHOWN_MAX = 99
# A kept count is dropped whenever the person's notifications change; the expiry only bounds
# how long a count can lag a writer that bypassed notifications_create.
UNREAD_CACHE_SECONDS = 60
# The inbox lists the latest ones; older ones are still counted until marked read.
INBOX_LIMIT = 100


def _unread_key(user_id: int) -> str:
    return f"notifications:unread:{user_id}"


def _recount_on_commit(user_ids: Iterable[int]) -> None:
    keys = [_unread_key(user_id) for user_id in set(user_ids)]
    if keys:
        transaction.on_commit(lambda: cache.delete_many(keys))


def notifications_create(notifications: Iterable[Notification]) -> list[Notification]:
    """Insert notifications in the caller's transaction (one statement); their recipients'
    bells are recounted once it commits."""
    created = Notification.objects.bulk_create(notifications)
    _recount_on_commit(cast(int, n.recipient_id) for n in created)
    return created


@dataclass(frozen=True)
class Unread:
    count: int

    @property
    def label(self) -> str:
        return f"{UNREAD_SHOWN_MAX}+" if self.count > UNREAD_SHOWN_MAX else str(self.count)


def unread_count(user: User) -> Unread:
    if not user.is_authenticated:
        return Unread(0)
    key = _unread_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = (
            Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True)
            .order_by()[: UNREAD_SHOWN_MAX + 1]
            .count()
        )
        cache.set(key, count, timeout=UNREAD_CACHE_SECONDS)
    return Unread(count)


def unread_notifications(request: HttpRequest) -> dict:
    """Context processor: ``unread`` for the bell in base.html, read only if a page shows it
    (htmx fragments and anonymous pages never do)."""
    return {"unread": SimpleLazyObject(lambda: unread_count(request.user))}


def notifications_for_user(user: User) -> QuerySet[Notification]:
    """The person's own notifications, newest first, with the task and queue each is about."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return (
        Notification.objects.filter(recipient_id=user.pk)
        .select_related("task__queue")
        .order_by("-created_at", "-pk")
    )


def get_notification_for_user(user: User, notification_id: int) -> Notification:
    """One of the person's own notifications; anyone else's is as absent as a missing one."""
    notification = notifications_for_user(user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404("No such notification.")
    return notification


# Not audited: reading a notification changes nothing but the reader's own inbox.
@transaction.atomic(durable=True)
def notification_mark_read(*, notification: Notification, acting_user: User) -> bool:
    """Mark one notification read; False if it was read already (a second click, two tabs)."""
    changed = Notification.objects.filter(
        pk=notification.pk, recipient_id=acting_user.pk, read_at__isnull=True
    ).update(read_at=timezone.now())
    _recount_on_commit([cast(int, notification.recipient_id)])
    return bool(changed)


@transaction.atomic(durable=True)
def notifications_mark_all_read(*, acting_user: User) -> int:
    """Mark every unread notification of the person read; returns how many were unread."""
    changed = Notification.objects.filter(recipient_id=acting_user.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    _recount_on_commit([cast(int, acting_user.pk)])
    return changed
