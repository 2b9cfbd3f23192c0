"""The series reviewapp records as work happens, declared once.

Labels named ``workflow`` and ``version`` are recorded as database ids (the hot paths already
hold them, so counting costs no query) and become the slug and version number when a scrape
renders them; ``queue`` is the queue's slug.
"""

from dataclasses import dataclass

# Seconds: from a fraction of a second (a model call, a task) to days (a claim wait).
LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
HUMAN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600, 7 * 86400)


@dataclass(frozen=True)
class Series:
    name: str
    help: str
    labels: tuple[str, ...]
    # A histogram when set, a counter otherwise.
    buckets: tuple[float, ...] = ()

    @property
    def is_histogram(self) -> bool:
        return bool(self.buckets)


ITEMS_RECEIVED = Series(
    "reviewapp_items_received", "Items stored by ingest.", ("workflow", "version")
)
ITEMS_AUTO_ACCEPTED = Series(
    "reviewapp_items_auto_accepted",
    "Items the routing policy completed without a human.",
    ("workflow", "version"),
)
ITEMS_SENT_TO_REVIEW = Series(
    "reviewapp_items_sent_to_review",
    "Items the routing policy sent to a review queue.",
    ("workflow", "version", "queue"),
)
ITEMS_DEAD_LETTERED = Series(
    "reviewapp_items_dead_lettered",
    "Items set aside with a reason (retries or budget exhausted).",
    ("workflow", "version", "step"),
)
MODEL_COST = Series(
    "reviewapp_model_cost",
    "Model cost of the predictions made, in the adapters' unit.",
    ("workflow", "version", "model"),
)
MODEL_PREDICTIONS = Series(
    "reviewapp_model_predictions", "Predictions made.", ("workflow", "version", "model")
)
REVIEW_CLAIMS = Series(
    "reviewapp_review_claim_wait_seconds",
    "Time from a review task's opening to the claim that took it.",
    ("workflow", "queue"),
    HUMAN_BUCKETS,
)
REVIEW_DECISIONS = Series(
    "reviewapp_review_decisions",
    "Reviewers' decisions by outcome (accept, correct, reject).",
    ("workflow", "version", "queue", "outcome"),
)
REVIEW_DECIDE_SECONDS = Series(
    "reviewapp_review_decide_seconds",
    "Time from the claim to the decision: the reviewer's time on the task.",
    ("workflow", "version", "queue"),
    HUMAN_BUCKETS,
)
REVIEW_HUMAN_COST = Series(
    "reviewapp_review_human_cost",
    "Review time cost: each decision's time (as the client measured it, else claim to decision)"
    " at the queue's hourly cost.",
    ("workflow", "version", "queue"),
)
CELERY_TASKS = Series(
    "reviewapp_celery_tasks",
    "Celery tasks finished, by task name and state (success, failure, retry).",
    ("task", "state"),
)
CELERY_TASK_SECONDS = Series(
    "reviewapp_celery_task_duration_seconds",
    "Run time of Celery tasks.",
    ("task",),
    LATENCY_BUCKETS,
)

ALL: tuple[Series, ...] = (
    ITEMS_RECEIVED,
    ITEMS_AUTO_ACCEPTED,
    ITEMS_SENT_TO_REVIEW,
    ITEMS_DEAD_LETTERED,
    MODEL_COST,
    MODEL_PREDICTIONS,
    REVIEW_CLAIMS,
    REVIEW_DECISIONS,
    REVIEW_DECIDE_SECONDS,
    REVIEW_HUMAN_COST,
    CELERY_TASKS,
    CELERY_TASK_SECONDS,
)
