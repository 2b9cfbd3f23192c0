from django.db import models


class ReasonApplies(models.TextChoices):
    CORRECT = "correct", "Corrections"
    REJECT = "reject", "Rejections"
    BOTH = "both", "Corrections and rejections"


class ReasonCode(models.Model):
    """The workflow's taxonomy of why a reviewer changed or refused the model's output."""

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="reason_codes"
    )
    code = models.SlugField(max_length=60)
    label = models.CharField(max_length=120)
    applies_to = models.CharField(
        max_length=10, choices=ReasonApplies.choices, default=ReasonApplies.BOTH
    )
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "code"], name="reason_code_unique"),
        ]
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class Correction(models.Model):
    """A labeled example: what the model said, what a human said instead, and why."""

    decision = models.OneToOneField(
        "reviews.Decision", on_delete=models.PROTECT, related_name="correction"
    )
    item = models.ForeignKey("workflows.Item", on_delete=models.PROTECT, related_name="+")
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="corrections"
    )
    input = models.JSONField()
    model_output = models.JSONField()
    human_output = models.JSONField()
    diff = models.JSONField(default=dict)
    reason_codes = models.JSONField(default=list)
    comment = models.TextField(blank=True)
    model_version = models.CharField(max_length=120)
    reviewer_pseudonym = models.CharField(max_length=32)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workflow", "created_at"], name="correction_wf_idx")]

    def __str__(self) -> str:
        return f"correction of item {self.item_id}"
