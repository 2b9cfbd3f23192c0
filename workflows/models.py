"""The machine side: workflow definitions, items and what the pipeline did to them."""

import hashlib
import json

from django.conf import settings
from django.db import models


class Workflow(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="workflows")
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the estimated accuracy of auto-accepted items fell below the routing policy's
    # floor (reviewapp.learn.monitoring): humans check at least this share of confident answers
    # until a manager goes back to the policy's own rate.
    qa_sample_rate_raised = models.FloatField(null=True, blank=True)
    qa_sample_raised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("submit_items", "Can submit items to the workflow"),
            ("request_export", "Can request correction dataset exports"),
            ("approve_export", "Can approve correction dataset exports"),
            ("release_models", "Can start, stop and judge canary releases of models"),
            ("operate_workflow", "Can retry and discard dead letters and redeliver webhooks"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def audit_chain(self) -> str:
        return f"workflow:{self.slug}"


def definition_checksum(definition: dict) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class WorkflowVersion(models.Model):
    """An immutable snapshot of a workflow definition; every item records the one it ran with.

    ``definition`` holds ``input_schema``, ``output_schema``, ``labels``, ``model``,
    ``routing`` (``{"threshold": 0.8}``) and ``queue``.
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow.slug} v{self.number}"

    def save(self, *args, **kwargs):
        # Items point at versions; changing one would rewrite the history of every item on it.
        if self.pk is not None:
            raise ValueError("A workflow version is immutable; create a new version instead.")
        super().save(*args, **kwargs)


class ModelAdapterKind(models.TextChoices):
    SKLEARN = "sklearn", "Built-in scikit-learn model"
    OPENAI = "openai", "OpenAI-compatible chat completions endpoint"
    LABEL_STUDIO_ML = "label_studio_ml", "Label Studio ML backend"
    # An approval's proposal comes from the agent that asks; nothing is ever called.
    AGENT = "agent", "An agent's proposed action (approvals)"
    # Scores another model's output per rubric item (workflows.judges); never the serving model.
    JUDGE = "judge", "LLM judge (OpenAI-compatible chat completions)"


class ModelVersion(models.Model):
    """A model the pipeline can call: a built-in artefact (verified by checksum before loading)
    or a remote endpoint described by ``config``; ``card`` holds the model card.

    A model belongs to ``team`` (it may be trained on that team's corrections): only the team's
    own models, and those an admin shared with it (``shared_with``), can be a canary candidate or
    a retraining base on its workflows. No team: registered by hand and not yet given to one.
    """

    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="model_versions",
    )
    shared_with = models.ManyToManyField("accounts.Team", blank=True, related_name="+")
    name = models.CharField(max_length=80)
    version = models.CharField(max_length=40)
    adapter = models.CharField(
        max_length=40, choices=ModelAdapterKind.choices, default=ModelAdapterKind.SKLEARN
    )
    artefact = models.CharField(
        max_length=255, blank=True, help_text="Path relative to MEDIA_ROOT (built-in models)"
    )
    sha256 = models.CharField(max_length=64, blank=True)
    # Remote endpoints: base_url, model, api_key_env, timeout_s, prices per 1k tokens, prompt.
    config = models.JSONField(default=dict, blank=True)
    labels = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, blank=True)
    # Model card: description, intended use, limitations, training data, evaluation.
    card = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


class PromptTemplate(models.Model):
    """A versioned prompt for LLM endpoints; ``{field}`` placeholders take input fields."""

    name = models.CharField(max_length=80)
    version = models.PositiveIntegerField()
    system = models.TextField(blank=True)
    user = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="prompt_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed (calls go through)"
    OPEN = "open", "Open (failing fast)"
    HALF_OPEN = "half_open", "Half-open (one probe call)"


class CircuitBreaker(models.Model):
    """Per model endpoint: after repeated failures, stop calling it for a while."""

    key = models.CharField(max_length=200, unique=True)
    state = models.CharField(
        max_length=20, choices=BreakerState.choices, default=BreakerState.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.state}"


class ItemStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    RUNNING = "running", "Running"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    COMPLETED = "completed", "Completed"
    DEAD_LETTERED = "dead_lettered", "Dead-lettered"


class ItemOutcome(models.TextChoices):
    AUTO_ACCEPTED = "auto_accepted", "Auto-accepted"
    ACCEPTED = "accepted", "Accepted"
    CORRECTED = "corrected", "Corrected"
    REJECTED = "rejected", "Rejected"


class Item(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="items")
    workflow_version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, related_name="items"
    )
    status = models.CharField(
        max_length=20, choices=ItemStatus.choices, default=ItemStatus.RECEIVED
    )
    outcome = models.CharField(max_length=20, choices=ItemOutcome.choices, blank=True)
    # The pipeline step that runs next; a redelivered task for another step does nothing.
    current_step = models.CharField(max_length=40, blank=True)
    input = models.JSONField()
    final_output = models.JSONField(null=True, blank=True)
    routing = models.JSONField(default=dict, blank=True)
    dead_letter_reason = models.TextField(blank=True)
    # Failures of the current step since it last succeeded or was retried by hand.
    step_failures = models.PositiveSmallIntegerField(default=0)
    discarded_at = models.DateTimeField(null=True, blank=True)
    discard_reason = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64)
    correlation_id = models.CharField(max_length=64, blank=True)
    # The W3C traceparent of the ingest request (when tracing is on): the item's later spans
    # (pipeline batches, the decision, the webhook) join or link to its trace.
    trace_context = models.CharField(max_length=55, blank=True, default="")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="item_idempotency_key_unique",
            ),
        ]
        indexes = [
            # The reconciler looks for items stuck in a non-terminal state.
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=["received", "running"]),
                name="item_in_flight_idx",
            ),
            models.Index(fields=["workflow", "status"], name="item_workflow_status_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} ({self.status})"


class StepRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class StepRun(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="step_runs")
    step = models.CharField(max_length=40)
    attempt = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=StepRunStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    model_version = models.CharField(max_length=120, blank=True)
    prompt_version = models.CharField(max_length=120, blank=True)
    # What the model call cost (failed answers cost too); the item's cost budget sums it.
    cost = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "step", "attempt"], name="step_run_attempt_unique"
            ),
        ]
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.step}#{self.attempt} {self.status}"


class Prediction(models.Model):
    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="prediction")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    output = models.JSONField()
    confidence = models.FloatField()
    probabilities = models.JSONField(default=dict)
    latency_ms = models.FloatField()
    cost = models.FloatField(default=0.0)
    prompt_version = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.output} @ {self.confidence:.2f}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    GAVE_UP = "gave_up", "Gave up"


class WebhookDelivery(models.Model):
    """One event to send to a workflow's callback URL; retried until delivered or out of tries.

    ``next_attempt_at`` is the deadline column a beat sweep looks at: retries are rows, not
    countdown messages, so a lost message only delays a delivery and never loses it.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    url = models.URLField(max_length=500)
    secret_env = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="delivery_due_idx",
            ),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.event} for item {self.item_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    url = models.URLField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"


class CanaryStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PROMOTED = "promoted", "Promoted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    STOPPED = "stopped", "Stopped by hand"


class Canary(models.Model):
    """A share of a workflow's items goes to a candidate model; gates decide its fate.

    While running, ``percent`` of items (fixed per item) use ``candidate``, the rest
    ``stable``. A promoted canary keeps sending every item to the candidate until the
    workflow definition names it (publish that, then the canary is history).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="canaries")
    stable = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    candidate = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    percent = models.PositiveSmallIntegerField()
    min_sample = models.PositiveIntegerField(help_text="Reviewed items per arm before judging")
    gates = models.JSONField()
    status = models.CharField(
        max_length=20, choices=CanaryStatus.choices, default=CanaryStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    last_evaluation = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            # At most one live canary (running or promoted) per workflow.
            models.UniqueConstraint(
                fields=["workflow"],
                condition=models.Q(status__in=["running", "promoted"]),
                name="one_live_canary_per_workflow",
            ),
        ]
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.candidate} vs {self.stable} on {self.workflow_id} ({self.status})"


class TrainingRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TrainingRun(models.Model):
    """Retraining the built-in model from one dataset release; a success leaves a candidate.

    ``base`` is the model the workflow used when the run started: the candidate is trained to
    replace it and evaluated against it on the release's held-out rows (``metrics``).
    """

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="training_runs")
    release = models.ForeignKey(
        "datasets.DatasetExport", on_delete=models.PROTECT, related_name="training_runs"
    )
    status = models.CharField(
        max_length=20, choices=TrainingRunStatus.choices, default=TrainingRunStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done")
    stage = models.CharField(max_length=120, blank=True)
    base = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when queued and at every stage; the stalled-run sweep reads it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # The stalled-run sweep scans only runs that wait for or hold a worker.
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="trainingrun_heartbeat_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"training run {self.pk} of {self.workflow_id} ({self.status})"


class ShadowStatus(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


class Shadow(models.Model):
    """A candidate model answering every item of a workflow beside the serving one, in the
    dark: its answers are stored and scored against what reviewers decided, and never route."""

    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="shadows")
    candidate = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=20, choices=ShadowStatus.choices, default=ShadowStatus.RUNNING
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workflow"],
                condition=models.Q(status="running"),
                name="one_running_shadow_per_workflow",
            ),
        ]

    def __str__(self) -> str:
        return f"shadow {self.candidate} on {self.workflow}"


class ShadowPrediction(models.Model):
    """The shadow model's answer for one item, or why there is none (``error``)."""

    shadow = models.ForeignKey(Shadow, on_delete=models.CASCADE, related_name="predictions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="shadow_predictions")
    output = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    cost = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shadow", "item"], name="shadow_prediction_unique"),
        ]

    def __str__(self) -> str:
        return f"shadow answer for item {self.item_id}"
