"""Installing the demo: a team, its people, the ticket-triage workflow with its model and queue.

Used by ``manage.py load_demo`` (and so by the quick start), the tests and the benchmark.
Running it again changes nothing that is already there.
"""

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model

from reviewapp.core.accounts.models import Role, Team, TokenScope
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.accounts.tokens import api_token_create
from reviewapp.core.checksums import file_sha256
from reviewapp.operations.configuration import workflow_sync
from reviewapp.review.reviews.models import Queue
from workflows.demo.definition import TICKET_TRIAGE
from workflows.demo.model import train_demo_model
from workflows.demo.tickets import LABELS, generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.models import ModelVersion, Workflow
from workflows.pipeline.adapters.builtin import artefact_path
from workflows.services import model_version_register

DEMO_PEOPLE = (
    ("alice", Role.REVIEWER, "Reviewer"),
    ("bob", Role.REVIEWER, "Reviewer"),
    ("maria", Role.MANAGER, "Manager"),
    ("mel", Role.ML_ENGINEER, "ML engineer (requests exports)"),
    ("ines", Role.ML_ENGINEER, "ML engineer (approves exports)"),
    ("api-client", Role.INTEGRATOR, "API client (token below)"),
)
MODEL_ARTEFACT = "models/ticket-triage-1.skops"


@dataclass
class Demo:
    team: Team
    workflow: Workflow
    queue: Queue
    model_version: ModelVersion
    passwords: dict[str, str] = field(default_factory=dict)
    api_token: str = ""


# Training is deterministic, so a process that installs the demo again after its database was
# reset (every test does), or into another media folder (tests with a folder of their own),
# reuses an artefact it wrote instead of training again: {path: (sha256 of the file it wrote,
# metrics)}.
_TRAINED: dict[Path, tuple[str, dict]] = {}


def _train_once(path: Path) -> dict:
    known = _TRAINED.get(path)
    if known is not None and path.exists() and file_sha256(path) == known[0]:
        return known[1]
    for earlier, (sha256, metrics) in list(_TRAINED.items()):
        if earlier != path and _copy_unchanged(earlier, path, sha256=sha256):
            _TRAINED[path] = (sha256, metrics)
            return metrics
        _TRAINED.pop(earlier, None)  # gone or changed since: never a source again
    metrics = train_demo_model(path)
    _TRAINED[path] = (file_sha256(path), metrics)
    return metrics


def _copy_unchanged(source: Path, target: Path, *, sha256: str) -> bool:
    """Copy ``source`` to ``target`` if it still holds what was written (checked on the copy)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        shutil.copyfile(source, partial)
    except OSError:
        return False
    if file_sha256(partial) != sha256:
        partial.unlink()
        return False
    os.replace(partial, target)  # a reader never sees half a model
    return True


def demo_model_install() -> ModelVersion:
    binding = TICKET_TRIAGE.definition["model"]
    existing = ModelVersion.objects.filter(name=binding["name"], version=binding["version"]).first()
    if existing is not None and artefact_path(existing.artefact).exists():
        return existing
    metrics = _train_once(artefact_path(MODEL_ARTEFACT))
    return model_version_register(
        name=binding["name"],
        version=binding["version"],
        artefact=MODEL_ARTEFACT,
        labels=list(LABELS),
        metrics=metrics,
    )


def demo_passwords_kept(path: Path) -> dict[str, str]:
    """A password per demo user, chosen once and kept in ``path`` (readable by its owner only),
    so every start of the quick start signs in with the same ones. Delete the file for new ones."""
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    if not isinstance(kept, dict):
        kept = {}
    usernames = [username for username, _, _ in DEMO_PEOPLE] + ["admin"]
    passwords = {
        name: kept[name] if isinstance(kept.get(name), str) and kept[name] else None
        for name in usernames
    }
    if all(passwords.values()):
        return {name: secret for name, secret in passwords.items() if secret}
    chosen = {name: secret or secrets.token_urlsafe(9) for name, secret in passwords.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(chosen, file, indent=2)
    os.replace(partial, path)  # a crash mid-write never leaves half a file to sign in with
    return chosen


def demo_install(*, password: str | None = None, passwords: dict[str, str] | None = None) -> Demo:
    """``password`` for everyone, else each user's from ``passwords``, else a new random one."""
    passwords = passwords or {}
    team, _ = Team.objects.get_or_create(slug="support", defaults={"name": "Customer support"})
    model_version = demo_model_install()
    workflow = workflow_sync(source=TICKET_TRIAGE)
    queue = Queue.objects.get(slug=TICKET_TRIAGE.queue_slug)
    demo = Demo(team=team, workflow=workflow, queue=queue, model_version=model_version)
    User = get_user_model()
    for username, role, _ in DEMO_PEOPLE:
        user, _ = User.objects.get_or_create(username=username)
        chosen = password or passwords.get(username) or secrets.token_urlsafe(9)
        user.set_password(chosen)
        user.save()
        demo.passwords[username] = chosen
        membership_add(team=team, user=user, role=role)
    admin, _ = User.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    chosen = password or passwords.get("admin") or secrets.token_urlsafe(9)
    admin.set_password(chosen)
    admin.save()
    demo.passwords["admin"] = chosen
    # Only a hash is stored: each install issues a new token (the one printed is the one shown).
    _, demo.api_token = api_token_create(
        user=User.objects.get(username="api-client"),
        name="demo",
        scopes=[TokenScope.INGEST, TokenScope.READ],
    )
    return demo


def demo_items_submit(demo: Demo, *, count: int, seed: int = 7, batch: int = 500) -> int:
    """Send generated tickets through the real ingest service, as the API would."""
    tickets = generate_tickets(count, seed=seed)
    submitter = get_user_model().objects.get(username="api-client")
    for start in range(0, count, batch):
        chunk = tickets[start : start + batch]
        items_ingest(
            workflow=demo.workflow,
            submissions=[
                Submission(input=t.as_input(), idempotency_key=f"demo-{seed}-{start + i}")
                for i, t in enumerate(chunk)
            ],
            submitted_by=submitter,
            correlation_id=f"demo-{seed}",
        )
    return count


def demo_sla_install(demo: Demo) -> None:
    """A service level for the demo queue, so the board has clocks to show: an answer within an
    hour, around the clock, at risk after 45 minutes, priority raised on breach and the team's
    managers told half an hour later. Left alone when the queue already has a policy."""
    from reviewapp.review.sla.configuration import escalation_step_add, sla_policy_set
    from reviewapp.review.sla.models import EscalationAction, SlaPolicy

    if SlaPolicy.objects.filter(queue=demo.queue).exists():
        return
    sla_policy_set(queue=demo.queue, target_minutes=60, warn_at_percent=75)
    escalation_step_add(
        queue=demo.queue, after_minutes=0, action=EscalationAction.RAISE_PRIORITY, priority_boost=5
    )
    escalation_step_add(
        queue=demo.queue, after_minutes=30, action=EscalationAction.NOTIFY_TEAM_LEAD
    )
