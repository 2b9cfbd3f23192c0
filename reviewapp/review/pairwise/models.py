"""Pairwise review: one input, the serving model's answer and a candidate's, a person picks.

A comparison is a ``ReviewTask`` in a queue of kind ``pairwise`` (claims, leases, SLA clocks and
the board work as for any task) plus a ``Comparison`` row that holds both answers, which side
shows which, and the reviewer's choice. Win rates per pair of model versions are read from the
decided rows (``selectors.matchups``).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class PairwiseQueue(models.Model):
    """The settings of a queue of kind ``pairwise``: how many shadow answers become comparisons."""

    queue = models.OneToOneField("reviews.Queue", on_delete=models.CASCADE, related_name="pairwise")
    # Share of the workflow's finished items with a differing shadow answer that are compared.
    sample_rate = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # How far the opening sweep has read: items completed up to this moment were drawn already.
    examined_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"pairwise settings of queue {self.queue_id}"


class Side(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


class Choice(models.TextChoices):
    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"


class Preferred(models.TextChoices):
    """The choice in the versions' terms (what win rates count)."""

    CANDIDATE = "candidate", "Candidate"
    CHAMPION = "champion", "Champion"
    TIE = "tie", "Tie"


class Comparison(models.Model):
    task = models.OneToOneField(
        "reviews.ReviewTask", on_delete=models.PROTECT, related_name="comparison"
    )
    item = models.ForeignKey("workflows.Item", on_delete=models.PROTECT, related_name="+")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.PROTECT, related_name="+")
    # Where the candidate's answer came from; each shadow answer is compared at most once.
    shadow_prediction = models.OneToOneField(
        "workflows.ShadowPrediction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="comparison",
    )
    champion = models.ForeignKey(
        "workflows.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    candidate = models.ForeignKey(
        "workflows.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    champion_output = models.JSONField()
    candidate_output = models.JSONField()
    # Drawn when the comparison opens and kept: the reviewer sees "A" and "B", never versions.
    candidate_side = models.CharField(max_length=1, choices=Side.choices)
    # SHA-256 of the canonical input: the preference dataset's split, as for corrections.
    input_hash = models.CharField(max_length=64)
    choice = models.CharField(max_length=3, choices=Choice.choices, blank=True)
    preferred = models.CharField(max_length=10, choices=Preferred.choices, blank=True)
    reason = models.TextField(blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Win rates (results page, canary gate) count decided rows per pair of versions.
            models.Index(
                fields=["workflow", "champion", "candidate"],
                condition=models.Q(decided_at__isnull=False),
                name="comparison_decided_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"comparison of task {self.task_id}"

    def output_on(self, side: str):
        return self.candidate_output if side == self.candidate_side else self.champion_output
