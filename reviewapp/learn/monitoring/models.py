from django.db import models


class DriftCheck(models.Model):
    """One drift check of a workflow version: each input field, the predicted label and the
    confidence, compared between a reference window and the recent window."""

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="drift_checks"
    )
    version = models.PositiveIntegerField()
    checked_at = models.DateTimeField()
    reference_items = models.PositiveIntegerField()
    current_items = models.PositiveIntegerField()
    # [{"name", "kind", "statistic", "value", "alarm", "drifted"}, ...]; empty when either
    # window had too few items to compare.
    features = models.JSONField(default=list)
    drifted = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["workflow", "-checked_at"], name="drift_recent_idx")]

    def __str__(self) -> str:
        return f"drift of {self.workflow_id} v{self.version} at {self.checked_at:%Y-%m-%d %H:%M}"
