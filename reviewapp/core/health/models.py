"""What the background processes say about themselves, kept in the database so that every web
process (and the embedded default, with no server but SQLite) sees the same picture."""

from django.db import models


class ProcessKind(models.TextChoices):
    WORKER = "worker", "Worker"
    BEAT = "beat", "Beat"


class Heartbeat(models.Model):
    """One row per background process, rewritten every few seconds while it lives.

    A Celery worker is keyed by its node name (``celery@host``), so a worker restarted under the
    same name takes over its row and the work the dead one held no longer counts as held.
    """

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=ProcessKind.choices)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()
    # Items a worker is running now or will run at a set time (a retry's countdown): the
    # reconciler leaves these alone. Empty for beat.
    holding = models.JSONField(default=list, blank=True)
    # Tasks it finished since it started, by outcome: {"succeeded": n, "failed": n}.
    tasks = models.JSONField(default=dict, blank=True)
    # Set by a supervisor (the quick start) that restarted the process.
    restarts = models.PositiveIntegerField(default=0)
    last_exit = models.CharField(max_length=200, blank=True)
    restarted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class SweepRun(models.Model):
    """The last run of each periodic sweep (by its Celery task name), as a worker ran it."""

    name = models.CharField(max_length=200, unique=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(null=True)
    # The sweep's return value (what it did), or the error that stopped it, for people.
    summary = models.CharField(max_length=500, blank=True)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BeatLease(models.Model):
    """Who schedules the sweeps. Any number of beat processes may run; the one holding the lease
    sends the sweeps, the others stand by and take it over once it lapses.

    ``fence`` grows at every take-over, and a sweep is sent only while the sender's fence is the
    current one and its lease has not lapsed by the database's clock, so a leader that stalled
    past its lease cannot send beside its successor.
    """

    name = models.CharField(max_length=50, unique=True)
    # The heartbeat name of the leader, for people; ``holder_token`` tells processes apart.
    holder = models.CharField(max_length=200, blank=True)
    holder_token = models.CharField(max_length=64, blank=True)
    fence = models.PositiveBigIntegerField(default=0)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    # Sweeps sent under the current fence.
    sent = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'}"
