import uuid

from django.db import models


class OutboxEvent(models.Model):
    """A CloudEvent written in the transaction of the change it reports, sent after commit.

    The relay takes unsent rows ``FOR UPDATE SKIP LOCKED``, publishes them with broker
    confirmation and marks them sent, so a rolled-back change leaves no event and a crash
    between publishing and marking only sends an event again (consumers dedupe on ``event_id``).
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=120)
    created_at = models.DateTimeField()
    # The whole CloudEvent (structured mode), exactly as it goes on the wire.
    payload = models.JSONField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The relay reads only unsent rows, oldest first; sent ones pile up beside them.
            models.Index(
                fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_unsent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
