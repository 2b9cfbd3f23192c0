from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Collate


class AuditEvent(models.Model):
    """One state change, hash-chained to the previous event of the same shard of its chain.

    Chains are per workflow (``chain="workflow:<slug>"``) or ``"system"``; each chain is split
    into ``REVIEWAPP_AUDIT_SHARDS`` hash chains (``shard``) so that concurrent writers of one
    workflow append side by side (see ``reviewapp.core.audit.services``). The table is append-only
    at the database level on PostgreSQL (see migration 0002); ``verify_audit`` re-computes
    every hash of every shard and names the first broken link.
    """

    chain = models.CharField(max_length=100)
    # Events written before chains were sharded are all in shard 0.
    shard = models.PositiveSmallIntegerField(default=0)
    seq = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "shard", "seq"], name="audit_chain_shard_seq_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["-occurred_at"], name="audit_recent_idx"),
            # The audit page's keyset pages, read one chain at a time.
            models.Index(fields=["chain", "-occurred_at", "-id"], name="audit_chain_recent_idx"),
            # ... and by person or action, when the page is filtered by them: a rare person or
            # action would otherwise mean reading a busy chain to its start.
            models.Index(
                fields=["actor_label", "chain", "-occurred_at", "-id"],
                name="audit_actor_recent_idx",
            ),
            models.Index(
                Collate("action", "C"),
                "chain",
                F("occurred_at").desc(),
                F("id").desc(),
                name="audit_action_recent_idx",
            ),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        where = f"{self.chain}/{self.shard}#{self.seq}"
        return f"{where} {self.action} {self.object_type}:{self.object_id}"
