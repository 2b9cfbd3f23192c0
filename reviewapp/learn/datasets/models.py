from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV (spreadsheet-safe)"
    PARQUET = "parquet", "Parquet"
    LABEL_STUDIO = "label_studio", "Label Studio tasks (JSON)"
    HF_DATASET = "hf_dataset", "Hugging Face dataset folder (zip)"
    # Not corrections: decisive pairwise comparisons as prompt / chosen / rejected.
    PREFERENCE_JSONL = "preference_jsonl", "Preference pairs from pairwise review (JSON Lines)"


class LabelStudioPullStatus(models.TextChoices):
    PENDING = "pending", "Pull queued"
    RUNNING = "running", "Pulling"
    DONE = "done", "Pulled"
    FAILED = "failed", "Pull failed"


class DatasetExport(models.Model):
    """A request for a release; once approved and built, release v<N> of its workflow.

    One request may ask for several formats: one approval covers them all and the build writes
    each from the same rows (``ReleaseFile``, one per format).
    """

    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="exports"
    )
    # The first of ``formats``: what clients that know one format per export read.
    format = models.CharField(max_length=20, choices=ExportFormat.choices)
    formats = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=20, choices=ExportStatus.choices, default=ExportStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Sensitive input fields (``x-sensitive`` in the input schema) are redacted or
    # pseudonymised unless the requester asked for them and every approver allowed it.
    include_sensitive = models.BooleanField(default=False)
    sensitive_included = models.BooleanField(default=False)
    # Fixed at request time: two for workflows marked ``sensitive``, otherwise one.
    approvals_required = models.PositiveSmallIntegerField(default=1)
    # Set when the last approval lands: the export is then release v<N> of its workflow.
    release_version = models.PositiveIntegerField(null=True, blank=True)
    # Also set then: the newest correction a build may read, so every format's file (and any
    # rebuild after a crash) holds the same rows whatever reviewers decide meanwhile.
    corrections_upto = models.PositiveBigIntegerField(null=True, blank=True)
    # Filled by the build: how this release differs from the previous one of its workflow.
    diff = models.JSONField(default=dict, blank=True)
    # Fencing for builds: each build run takes the next attempt number and only the holder of
    # the current one may report progress or finish, so a resumed build and a late straggler
    # never both publish a file.
    build_attempt = models.PositiveIntegerField(default=0)
    # Bumped on approval and at every progress report; the stalled-build sweep reads it.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Where the release was last pushed (set by the push): what a pull reads back.
    label_studio_project_id = models.PositiveIntegerField(null=True, blank=True)
    label_studio_url = models.URLField(max_length=500, blank=True)
    # The last pull of annotations back as corrections; the task claims it by compare-and-swap.
    label_studio_pull_status = models.CharField(
        max_length=20, choices=LabelStudioPullStatus.choices, blank=True
    )
    label_studio_pull_started_at = models.DateTimeField(null=True, blank=True)
    # Counts when done (``recorded``, ``unchanged``, ...), or ``{"error": ...}`` when failed.
    label_studio_pull_result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "release_version"],
                condition=models.Q(release_version__isnull=False),
                name="dataset_release_version_unique",
            ),
        ]
        indexes = [
            # The stalled-build sweep scans only exports that are waiting for or in a build.
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status__in=["approved", "building"]),
                name="export_build_heartbeat_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.workflow_id} ({self.status})"

    @property
    def all_formats(self) -> list[str]:
        """The formats asked for (exports from before multi-format requests have one)."""
        return list(self.formats) or [self.format]

    @property
    def release_name(self) -> str:
        return f"v{self.release_version}" if self.release_version else ""

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == ExportStatus.READY else 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class ExportApproval(models.Model):
    """One approver's yes; a sensitive workflow's export needs two from different people."""

    export = models.ForeignKey(DatasetExport, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField()
    allowed_sensitive = models.BooleanField(default=False)

    class Meta:
        ordering = ["approved_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["export", "approver"], name="export_approval_unique"),
        ]

    def __str__(self) -> str:
        return f"approval of export {self.export_id} by {self.approver_id}"


class ReleaseFile(models.Model):
    """One format's file of a built release: what a download of that format hands out."""

    export = models.ForeignKey(DatasetExport, on_delete=models.CASCADE, related_name="files")
    format = models.CharField(max_length=20, choices=ExportFormat.choices)
    # Where it is in the ``exports`` storage.
    path = models.CharField(max_length=500)
    # What a download is called (``<workflow>-v<N>-<kind>.<ext>``).
    download_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["export", "id"]
        constraints = [
            models.UniqueConstraint(fields=["export", "format"], name="release_file_unique"),
        ]

    def __str__(self) -> str:
        return self.download_name
