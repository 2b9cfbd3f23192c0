from django.conf import settings
from django.db import models


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
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        where = f"{self.chain}/{self.shard}#{self.seq}"
        return f"{where} {self.action} {self.object_type}:{self.object_id}"
