"""Reviewer quality: four-eyes reviews, gold items with known answers, per-queue settings.

The reviews app knows nothing of these: the hooks in ``reviewapp.review.quality.services`` run
when a task opens and when it is decided, and the rows here say which tasks are pairs, which are
gold and how each was scored.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class QueueQuality(models.Model):
    """A queue's quality settings; a queue without a row has no gold and no senior queue."""

    queue = models.OneToOneField("reviews.Queue", on_delete=models.CASCADE, related_name="quality")
    # Share of real tasks after which a gold task is mixed in (0: never, 1: one per real task).
    gold_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    # Where a four-eyes disagreement goes; empty: the same queue (a third reviewer).
    senior_queue = models.ForeignKey(
        "reviews.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"quality settings of queue {self.queue_id}"


class FourEyesStatus(models.TextChoices):
    PENDING = "pending", "Waiting for both reviewers"
    AGREED = "agreed", "Both reviewers agreed"
    DISAGREED = "disagreed", "The reviewers disagreed; a senior reviewer decides"


class FourEyesReview(models.Model):
    """One item reviewed by two people independently, and a senior one if they disagree.

    Each answer is the ``Decision`` of its task (reviewer, outcome, output, reasons, comment):
    ``first_task.decision`` and ``second_task.decision`` are the pair's answers,
    ``senior_task.decision`` the final one after a disagreement. ``status`` is ``agreed`` or
    ``disagreed`` once both answers are in (a disagreement stays ``disagreed`` after the senior
    decided); ``settled_at`` is set when the item's final answer is known, i.e. when the item
    resumes. Dataset exports read disagreements with
    ``FourEyesReview.objects.filter(status="disagreed", settled_at__isnull=False)``.
    "First" and "second" are the order the tasks were opened, not the order of decisions.
    """

    item = models.OneToOneField(
        "workflows.Item", on_delete=models.PROTECT, related_name="four_eyes"
    )
    first_task = models.OneToOneField(
        "reviews.ReviewTask", on_delete=models.PROTECT, related_name="+"
    )
    second_task = models.OneToOneField(
        "reviews.ReviewTask", on_delete=models.PROTECT, related_name="+"
    )
    senior_task = models.OneToOneField(
        "reviews.ReviewTask", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=FourEyesStatus.choices, default=FourEyesStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    compared_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"four-eyes review of item {self.item_id} ({self.status})"

    @property
    def pair(self) -> tuple:
        return (self.first_task, self.second_task)


class GoldItem(models.Model):
    """An input with its known correct output, which managers mix into a queue.

    ``proposed_output`` is what the reviewer is shown as the model's answer: the right answer
    (the reviewer should accept it) or a wrong one (the reviewer should correct it).
    """

    queue = models.ForeignKey("reviews.Queue", on_delete=models.PROTECT, related_name="gold_items")
    input = models.JSONField()
    expected_output = models.JSONField()
    proposed_output = models.JSONField()
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"gold item {self.pk} of queue {self.queue_id}"


class GoldTask(models.Model):
    """One showing of a gold item: its own Item and ReviewTask, which look like real ones.

    Everything that counts real work leaves these out through the reverse relations
    ``Item.gold`` / ``ReviewTask.gold`` (``Item.objects.filter(gold__isnull=True)``). A gold
    decision never resumes a pipeline, sends a webhook or records a Correction.
    """

    gold_item = models.ForeignKey(GoldItem, on_delete=models.PROTECT, related_name="showings")
    item = models.OneToOneField("workflows.Item", on_delete=models.PROTECT, related_name="gold")
    task = models.OneToOneField("reviews.ReviewTask", on_delete=models.PROTECT, related_name="gold")
    # The real task whose opening mixed this one in (deterministic, see gold_task_mix_in).
    mixed_in_after = models.ForeignKey(
        "reviews.ReviewTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Scored when decided: did the reviewer end with the known answer?
    correct = models.BooleanField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"gold task {self.task_id} ({self.gold_item})"
