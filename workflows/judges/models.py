"""LLM judges: what a judge version scored, how often reviewers agreed with it, and whether a
routing policy may rely on it.

A judge is a ``ModelVersion`` of adapter kind ``judge`` (so its prompt versions are model
versions, canaries included); the workflow definition's ``judge`` section names it and its
rubric. Agreement is kept per workflow, judge version and rubric item: one row, recomputed by a
job after reviewers decide judged items (``reviewapp.review.judges``).
"""

from django.db import models


class JudgeScore(models.Model):
    """A judge version's score of one item's output on one rubric item."""

    item = models.ForeignKey(
        "workflows.Item", on_delete=models.CASCADE, related_name="judge_scores"
    )
    judge = models.ForeignKey("workflows.ModelVersion", on_delete=models.PROTECT, related_name="+")
    rubric = models.CharField(max_length=60)
    score = models.IntegerField()
    # The judge's verdict: the score reaches the rubric item's pass mark.
    passed = models.BooleanField()
    rationale = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "rubric"], name="judge_score_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.rubric} {self.score} for item {self.item_id}"


class JudgeCheck(models.Model):
    """A reviewer's decision on a judged item, set beside the judge's verdict on one rubric item:
    one unit of the agreement between the judge version and people."""

    item = models.ForeignKey("workflows.Item", on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="+")
    judge = models.ForeignKey("workflows.ModelVersion", on_delete=models.PROTECT, related_name="+")
    rubric = models.CharField(max_length=60)
    judge_passed = models.BooleanField()
    human_passed = models.BooleanField()
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The first settled review of an item counts; a second one (four-eyes) does not.
            models.UniqueConstraint(fields=["item", "rubric"], name="judge_check_unique"),
        ]
        indexes = [
            # The agreement job reads the latest checks of one judge version and rubric item.
            models.Index(
                fields=["workflow", "judge", "rubric", "-decided_at"], name="judge_check_recent_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.judge_id}/{self.rubric} on item {self.item_id}"


class JudgeAgreement(models.Model):
    """Cohen's kappa between a judge version and reviewers on one rubric item of a workflow,
    with its bootstrap 95 % interval, and the trust gate's verdict.

    A decision that adds a check sets ``stale`` and counts a mark in its own transaction; the
    job that recomputes the row clears ``stale`` only if no mark came in meanwhile, so neither a
    lost message nor a crashed job leaves the figure behind for good (the beat sweep finds it).
    """

    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="+")
    judge = models.ForeignKey("workflows.ModelVersion", on_delete=models.PROTECT, related_name="+")
    rubric = models.CharField(max_length=60)
    items = models.PositiveIntegerField(default=0)
    agreed = models.PositiveIntegerField(default=0)
    kappa = models.FloatField(null=True, blank=True)
    kappa_low = models.FloatField(null=True, blank=True)
    kappa_high = models.FloatField(null=True, blank=True)
    trusted = models.BooleanField(default=False)
    trust_changed_at = models.DateTimeField(null=True, blank=True)
    stale = models.BooleanField(default=False)
    marks = models.PositiveIntegerField(default=0)
    # The marks the stored figure has seen: a job that read fewer checks never overwrites it.
    measured_marks = models.PositiveIntegerField(default=0)
    measured_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "judge", "rubric"], name="judge_agreement_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["measured_at"], condition=models.Q(stale=True), name="judge_stale_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.judge_id}/{self.rubric} on {self.workflow_id}"
