from django.db import models


class ReasonApplies(models.TextChoices):
    CORRECT = "correct", "Corrections"
    REJECT = "reject", "Rejections"
    BOTH = "both", "Corrections and rejections"


class ReasonCode(models.Model):
    """One reason of the workflow's taxonomy of why a reviewer changed or refused the output.

    ``code`` is the full path (``wrong-category/near-miss``). The taxonomy is versioned with the
    workflow: a row never changes meaning; when a reason's label, parent or use changes, the
    row is retired and a new one takes the code, so old decisions keep the reason they chose.
    Only active rows are offered to reviewers; retired ones still resolve.
    """

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="reason_codes"
    )
    code = models.CharField(max_length=200)
    label = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    applies_to = models.CharField(
        max_length=10, choices=ReasonApplies.choices, default=ReasonApplies.BOTH
    )
    active = models.BooleanField(default=True)
    # Null on reasons created before the taxonomy was versioned.
    introduced_in = models.ForeignKey(
        "workflows.WorkflowVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    retired_in = models.ForeignKey(
        "workflows.WorkflowVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        constraints = [
            # Retired rows keep their code, so only one live row per code.
            models.UniqueConstraint(
                fields=["workflow", "code"],
                condition=models.Q(active=True),
                name="reason_code_active_unique",
            ),
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.label


class CorrectionSource(models.TextChoices):
    REVIEW = "review", "Review"
    LABEL_STUDIO = "label_studio", "Label Studio"


class Correction(models.Model):
    """A labeled example: what the model said, what a human said instead, and why.

    Corrections from a review carry their ``decision``; those pulled back from Label Studio
    have none (so dataset filters on queue or decision type never match them) and carry
    ``external_id`` instead, which makes a second pull add nothing.
    """

    decision = models.OneToOneField(
        "reviews.Decision",
        on_delete=models.PROTECT,
        related_name="correction",
        null=True,
        blank=True,
    )
    source = models.CharField(
        max_length=20, choices=CorrectionSource.choices, default=CorrectionSource.REVIEW
    )
    # ``ls:<project id>:<annotation id>`` for a Label Studio annotation.
    external_id = models.CharField(max_length=120, blank=True)
    item = models.ForeignKey("workflows.Item", on_delete=models.PROTECT, related_name="+")
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="corrections"
    )
    # The item's workflow version (its schema, prompt and rules), kept with the snapshot.
    workflow_version = models.ForeignKey(
        "workflows.WorkflowVersion", on_delete=models.PROTECT, related_name="+"
    )
    # The item's four-eyes review, if any, joined on item_id without going through the item
    # (no column of its own): dataset exports read disagreements through it.
    four_eyes = models.ForeignObject(
        "quality.FourEyesReview",
        on_delete=models.DO_NOTHING,
        from_fields=["item"],
        to_fields=["item"],
        related_name="+",
        null=True,
    )
    input = models.JSONField()
    # canonical_hash(input): duplicates and the train/validation/test split go by it.
    input_hash = models.CharField(max_length=64, editable=False)
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
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="correction_external_id_unique",
            ),
            # Every correction comes from somewhere we can point at.
            models.CheckConstraint(
                condition=models.Q(decision__isnull=False) | ~models.Q(external_id=""),
                name="correction_has_origin",
            ),
        ]

    def __str__(self) -> str:
        return f"correction of item {self.item_id}"
