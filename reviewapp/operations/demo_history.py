"""The demo's history: work the demo's people already did, so every page has something to show.

``demo_history_install`` plays it through the real services, in this process, as the people
of the demo would have through the pages: past tickets arrive and run through the pipeline,
alice and bob review them (accepting, correcting with reasons, rejecting spam), a manager's gold
items are mixed in and scored, a chargeback ticket gets two answers that disagree (four-eyes),
an ML engineer requests a dataset release that a colleague approves, and the model is retrained
on it, leaving a candidate for a canary. One ticket's pipeline fails for good (dead letter).

Everything happens at the time it is installed: the services take their time from the clock, and
the audit trail records when each event was written, so the history is not back-dated.

Running it again adds nothing: each part looks for what it made before (tickets by idempotency
key, gold items, the release by its note, a succeeded training run) and only finishes what is
missing, so an install interrupted halfway is completed by the next one.
"""

import json
from dataclasses import dataclass, field
from itertools import cycle

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.learn.training.services import model_retrain, training_run_execute
from reviewapp.operations.demo import Demo
from reviewapp.review.quality.models import FourEyesReview, GoldItem, GoldTask
from reviewapp.review.quality.services import gold_item_add, queue_quality_set
from reviewapp.review.reviews.claims import review_task_claim, review_task_release
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from workflows.demo.tickets import LABELS, Ticket, generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item, Prediction, TrainingRun, TrainingRunStatus
from workflows.pipeline.engine import item_resume_after_review, items_run
from workflows.services import workflow_publish

# Twice the share of two-topic tickets the live demo gets: those are the ones the model is unsure
# of. This seed sends 34 of the 100 to reviewers, 18 of them answered wrong, 7 of those in the
# validation and test splits: enough for a release the model can be retrained and evaluated on.
HISTORY_SEED = 38
HISTORY_TICKETS = 100
HISTORY_MIXED_SHARE = 0.5
HISTORY_KEY = "demo-history"
# Tickets that are no support request at all, by the reason a reviewer rejects them with.
SPAM, PHISHING = "(spam)", "(phishing)"
REJECTED_FOR = {SPAM: "spam", PHISHING: "spam/phishing"}
DEAD_LETTER_KEY = "demo-history-dead-letter"
# The model a version of the workflow named by mistake: it was never registered.
MISSING_MODEL = {"name": "ticket-triage", "version": "2"}
PEOPLE = ("alice", "bob", "maria", "mel", "ines", "api-client", "admin")
RELEASE_NOTE = "Demo: the first release of corrections, to retrain the triage model"

# Tickets the generator never writes: spam that reviewers reject, and chargeback threats that the
# workflow's chargeback-threat rule sends to two reviewers (four-eyes).
EXTRA_TICKETS = (
    Ticket("You have won", "Claim your prize now. Send us your bank details.", "free", SPAM),
    Ticket(
        "Security notice",
        "Your mailbox is full. Click the link and confirm your details.",
        "free",
        PHISHING,
    ),
    Ticket("Business offer", "We sell cheap followers for your social pages.", "pro", SPAM),
    Ticket(
        "Chargeback",
        "I was charged twice this month; refund it or I file a chargeback.",
        "pro",
        "billing",
    ),
    Ticket(
        "Chargeback",
        "The order shows delivered but nothing came. My bank will reverse the payment.",
        "free",
        "shipping",
    ),
    Ticket(
        "Chargeback",
        "My account was locked and I still pay for it. I will dispute the charge.",
        "pro",
        "account",
    ),
)
# bob reads this chargeback ticket as a billing one: the four-eyes disagreement.
DISPUTED = EXTRA_TICKETS[5]

# Known answers a manager keeps for the queue, as (ticket, what the model is shown to propose):
# two proposals are right (accept them), two are wrong (correct them).
GOLD = (
    (Ticket("Invoice", "The invoice amount is wrong.", "pro", "billing"), "billing"),
    (Ticket("Login problem", "Please reset my password.", "free", "account"), "account"),
    (Ticket("Question", "The tracking number does not work.", "free", "shipping"), "technical"),
    (Ticket("Problem", "The export button does nothing.", "pro", "technical"), "account"),
)
GOLD_RATE = 0.15


@dataclass
class History:
    items: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    release: DatasetExport | None = None
    training_run: TrainingRun | None = None
    dead_letter: Item | None = None


def _key(value: dict) -> str:
    return json.dumps(value, sort_keys=True)


def history_tickets() -> list[Ticket]:
    return [
        *generate_tickets(HISTORY_TICKETS, seed=HISTORY_SEED, mixed_share=HISTORY_MIXED_SHARE),
        *EXTRA_TICKETS,
    ]


def demo_history_install(demo: Demo) -> History:
    history = History()
    people = {user.username: user for user in get_user_model().objects.filter(username__in=PEOPLE)}
    _gold_install(demo, manager=people["maria"])
    tickets = history_tickets()
    history.items = _tickets_run(demo, tickets, submitter=people["api-client"])
    history.decisions = _reviews(demo, tickets, reviewers=[people["alice"], people["bob"]])
    history.release = demo_release(demo, requester=people["mel"], approver=people["ines"])
    history.training_run = _retrain(history.release, engineer=people["mel"])
    history.dead_letter = _dead_letter(demo, submitter=people["api-client"], admin=people["admin"])
    return history


def _gold_install(demo: Demo, *, manager) -> None:
    """The manager's gold items and gold rate, before the past tickets open their tasks (gold
    is mixed in as tasks open)."""
    if GoldItem.objects.filter(queue=demo.queue).exists():
        return
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=GOLD_RATE)
    for ticket, proposed in GOLD:
        gold_item_add(
            queue=demo.queue,
            acting_user=manager,
            input=ticket.as_input(),
            expected_output={"label": ticket.label},
            proposed_output={"label": proposed},
        )


def _tickets_run(demo: Demo, tickets: list[Ticket], *, submitter) -> int:
    """Ingest the past tickets and run them through the pipeline here, as a worker would."""
    results = items_ingest(
        workflow=demo.workflow,
        submissions=[
            Submission(input=ticket.as_input(), idempotency_key=f"{HISTORY_KEY}-{index}")
            for index, ticket in enumerate(tickets)
        ],
        submitted_by=submitter,
        correlation_id=HISTORY_KEY,
    )
    # Items finished before (a second install) are past every step: running them does nothing.
    items_run(item_ids=[item.pk for item, _ in results])
    return len(results)


def _reviews(demo: Demo, tickets: list[Ticket], *, reviewers) -> dict[str, int]:
    """alice and bob take turns claiming the queue's next task and decide it as the ticket's
    true label says, while tasks of the history wait (none do on a second install: then nobody
    claims anything)."""
    truth = {_key(ticket.as_input()): ticket.label for ticket in tickets}
    disputed = _key(DISPUTED.as_input())
    bob_missed_gold = False
    done: dict[str, int] = {}
    active = list(reviewers)
    for reviewer in cycle(reviewers):
        if not active or not _waiting(demo).exists():
            break
        if reviewer not in active:
            continue
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        if task is None:
            active.remove(reviewer)
            continue
        item = Item.objects.get(pk=task.item_id)
        key = _key(item.input)
        gold = GoldTask.objects.filter(task_id=task.pk).select_related("gold_item").first()
        if gold is not None:
            known = gold.gold_item.expected_output["label"]
            right = known
            if reviewer.username == "bob" and not bob_missed_gold:
                # bob gets his first gold item wrong: his gold accuracy is not perfect.
                proposed = gold.gold_item.proposed_output["label"]
                right = proposed if proposed != known else _other_label(known)
                bob_missed_gold = True
        elif key in truth:
            right = truth[key]
            if reviewer.username == "bob" and key == disputed:
                right = "billing"
        else:
            # Live work ahead of the history's in the queue: not this reviewer's to script.
            review_task_release(task=task, reviewer=reviewer, claim_token=task.claim_token)
            active.remove(reviewer)
            continue
        outcome = _decide(task, reviewer, item, right)
        done[outcome] = done.get(outcome, 0) + 1
        item_resume_after_review(item_id=item.pk)
    return done


def _other_label(label: str) -> str:
    return next(other for other in LABELS if other != label)


def _waiting(demo: Demo) -> QuerySet[ReviewTask]:
    """Open tasks of the history's tickets and of the gold mixed in with them, except a
    four-eyes disagreement's, which waits for a third reviewer."""
    return (
        ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.OPEN)
        .filter(
            Q(item__correlation_id=HISTORY_KEY)
            | Q(gold__mixed_in_after__item__correlation_id=HISTORY_KEY)
        )
        .exclude(
            pk__in=FourEyesReview.objects.filter(senior_task__isnull=False).values("senior_task")
        )
    )


def _decide(task: ReviewTask, reviewer, item: Item, right: str) -> str:
    proposed = Prediction.objects.get(item=item).output["label"]
    if right in REJECTED_FOR:
        outcome, output, reasons = "reject", None, [REJECTED_FOR[right]]
    elif proposed == right:
        outcome, output, reasons = "accept", None, []
    else:
        outcome, output = "correct", {"label": right}
        # Two-topic tickets are the usual mistake; the rest were close calls.
        mixed = item.input["subject"] in ("Question", "Help needed", "Support request", "Problem")
        reasons = ["mixed-topics"] if mixed else ["wrong-category/near-miss"]
        if mixed and reviewer.username == "bob":
            reasons.append("wrong-category/near-miss")  # bob says more precisely what went wrong
    review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome=outcome,
        output=output,
        reason_codes=reasons,
    )
    return outcome


def demo_release(demo: Demo, *, requester, approver) -> DatasetExport:
    """The release of the human-verified rows so far (accepted and corrected) in JSON Lines and
    CSV, requested, approved by a colleague and built.

    Only this function talks to the dataset services, as an ML engineer's pages would."""
    release = DatasetExport.objects.filter(workflow=demo.workflow, note=RELEASE_NOTE).first()
    if release is None:
        release = dataset_export_request(
            workflow=demo.workflow,
            requested_by=requester,
            export_formats=["jsonl", "csv"],
            filters={},
            note=RELEASE_NOTE,
        )
    if release.status == ExportStatus.REQUESTED:
        release = dataset_export_approve(export=release, approver=approver)
    if release.status in (ExportStatus.APPROVED, ExportStatus.BUILDING):
        release = dataset_export_build(export_id=release.pk) or release
    release.refresh_from_db()
    return release


def _retrain(release: DatasetExport, *, engineer) -> TrainingRun | None:
    run = (
        TrainingRun.objects.filter(release=release)
        .exclude(status=TrainingRunStatus.FAILED)
        .order_by("-pk")
        .first()
    )
    if run is None:
        if release.status != ExportStatus.READY:
            return None
        run = model_retrain(release=release, acting_user=engineer)
    if run.status == TrainingRunStatus.QUEUED:
        training_run_execute(run_id=run.pk)
        run.refresh_from_db()
    return run


def _dead_letter(demo: Demo, *, submitter, admin) -> Item:
    """A ticket that failed for good: an admin published a version of the workflow naming a model
    nobody had registered; the one ticket that arrived under it failed at inference on every
    attempt and was dead-lettered; the admin then published the right definition again."""
    item = Item.objects.filter(workflow=demo.workflow, idempotency_key=DEAD_LETTER_KEY).first()
    if item is not None:
        return item
    good = demo.workflow.current_version
    assert good is not None
    ticket = Ticket("Refund", "Please refund the last payment. Thanks.", "pro", "billing")
    try:
        workflow_publish(
            slug=demo.workflow.slug,
            name=demo.workflow.name,
            team=demo.team,
            definition=good.definition | {"model": MISSING_MODEL},
            acting_user=admin,
        )
        demo.workflow.refresh_from_db()
        ((item, _),) = items_ingest(
            workflow=demo.workflow,
            submissions=[Submission(input=ticket.as_input(), idempotency_key=DEAD_LETTER_KEY)],
            submitted_by=submitter,
            correlation_id=HISTORY_KEY,
        )
    finally:
        workflow_publish(
            slug=demo.workflow.slug,
            name=demo.workflow.name,
            team=demo.team,
            definition=good.definition,
            acting_user=admin,
        )
        demo.workflow.refresh_from_db()
    # Each run is one attempt (a worker would wait its backoff between them); the last allowed
    # one dead-letters the item.
    for _ in range(settings.REVIEWAPP_STEP_MAX_ATTEMPTS):
        items_run(item_ids=[item.pk])
    item.refresh_from_db()
    return item
