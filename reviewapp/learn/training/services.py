"""Retraining the built-in model from an approved dataset release.

``model_retrain`` queues a ``TrainingRun``; the ``workflows.retrain`` task calls
``training_run_execute``, which:

1. reads the rows of the release's published data file, after checking the file against the
   checksum recorded when it was built. The release file, not a fresh query through the row
   builder, is the source: it is what the approvers signed off (filters, deduplication,
   redaction frozen at build time) and the model card can name it by checksum. Corrections made
   since, or a row builder changed since, cannot slip into a model trained "on v3";
2. takes the human label as the target (rejections, whose human output is empty, teach no
   label and are skipped) and trains on the ``train`` split plus the seed model's own training
   data, so the new model learns the corrections without forgetting what it knew;
3. evaluates the candidate and the workflow's current model on the ``validation`` and
   ``test`` rows (accuracy, multi-class Brier score, expected calibration error);
4. writes the artefact with skops to ``models/<team>/`` of the ``models`` storage (a local
   folder or an object store, reviewapp.core.files) and registers it as a new
   ModelVersion with a model card, ready to be chosen as a canary's candidate.

Every stage moves ``progress``; the run ends ``succeeded`` or ``failed`` with an error that
says what to fix, and both ends are audited on the workflow's chain.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import Conflict, Forbidden
from reviewapp.core.files import exports_storage, stored_sha256
from reviewapp.core.jobs import job_send_on_commit
from reviewapp.core.permissions import RELEASE_MODELS, user_can
from reviewapp.core.quotas import team_quota_take
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.readers import READERS
from reviewapp.learn.datasets.services import (
    ReleaseFileChanged,
    ReleaseFileMissing,
    release_dir,
    release_file_open,
)
from workflows.access import models_for_team
from workflows.demo.model import TRAINING_SEED, TRAINING_SIZE, build_classifier, ticket_text
from workflows.demo.tickets import generate_tickets
from workflows.models import (
    ModelAdapterKind,
    ModelVersion,
    TrainingRun,
    TrainingRunStatus,
)
from workflows.pipeline.adapters.builtin import (
    TRUSTED_TYPES,
    SklearnAdapter,
    artefact_exists,
    artefact_save,
)
from workflows.services import model_version_register

RETRAIN_TASK = "workflows.retrain"

logger = logging.getLogger(__name__)

HELD_OUT_SPLITS = ("validation", "test")
CALIBRATION_BINS = 10


class RetrainConflict(Conflict):
    """The release cannot be trained on (not built and ready)."""


class RetrainForbidden(Forbidden):
    """Only people who may release models of the workflow may train one."""


class TrainingFailed(Exception):
    """A reason to stop the run that the person who started it can act on."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    split: str


# --- the service ------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def model_retrain(*, release: DatasetExport, acting_user) -> TrainingRun:
    """Queue a training run on ``release``; the worker does the training."""
    release = (
        DatasetExport.objects.select_for_update(of=("self",))
        .select_related("workflow__team", "workflow__current_version")
        .get(pk=release.pk)
    )
    workflow = release.workflow
    if not user_can(acting_user, RELEASE_MODELS, workflow):
        raise RetrainForbidden(
            "Only people who may release models of this workflow can retrain its model."
        )
    binding = (workflow.current_version.definition if workflow.current_version else {}).get(
        "model"
    ) or {}
    if (
        not models_for_team(workflow.team)
        .filter(name=binding.get("name"), version=binding.get("version"))
        .exists()
    ):
        raise RetrainForbidden(
            "The workflow's model belongs to another team; an admin can share it with this team "
            "before it is retrained here."
        )
    if release.status != ExportStatus.READY:
        raise RetrainConflict(
            f"This export is {release.get_status_display().lower()}; "
            "only a built, ready release can be trained on."
        )
    team_quota_take(
        team_id=workflow.team_id,
        in_flight=TrainingRun.objects.filter(
            workflow__team_id=workflow.team_id,
            status__in=[TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING],
        ),
        limit=settings.REVIEWAPP_TEAM_MAX_TRAINING_RUNS,
        what="retraining runs",
    )
    now = timezone.now()
    run = TrainingRun.objects.create(
        workflow=workflow,
        release=release,
        requested_by=acting_user,
        requested_at=now,
        heartbeat_at=now,
        stage="Waiting for a worker",
    )
    audit_record(
        action="retrain.requested",
        obj=run,
        actor=acting_user,
        chain=workflow.audit_chain,
        data={"release": release.release_name, "export_id": release.pk, "sha256": release.sha256},
    )
    job_send_on_commit(RETRAIN_TASK, run.pk)
    return run


# --- the worker side --------------------------------------------------------------------------


class _Abandoned(Exception):
    """The stalled-run sweep failed this run meanwhile; its worker stops without a result."""


def _progress(run: TrainingRun, percent: int, stage: str) -> None:
    # Outside any transaction on purpose: whoever polls the run sees each stage as it starts.
    updated = TrainingRun.objects.filter(pk=run.pk, status=TrainingRunStatus.RUNNING).update(
        progress=percent, stage=stage, heartbeat_at=timezone.now()
    )
    if not updated:
        raise _Abandoned


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Do the run. A redelivered message finds it no longer queued and does nothing."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRunStatus.QUEUED).update(
        status=TrainingRunStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress=1,
        stage="Starting",
    )
    if not claimed:
        return None
    run = TrainingRun.objects.select_related("workflow", "release", "requested_by").get(pk=run_id)
    try:
        candidate, metrics = _train(run)
    except _Abandoned:
        return None
    except TrainingFailed as failure:
        return _finish_failed(run, str(failure))
    except Exception as unexpected:  # the run must never stay "running" after its worker gave up
        logger.exception("training run %s failed", run.pk)
        return _finish_failed(run, f"Unexpected error: {type(unexpected).__name__}: {unexpected}")
    return _finish_succeeded(run, candidate, metrics)


def _train(run: TrainingRun) -> tuple[ModelVersion, dict]:
    from skops import io as skops_io  # heavy import, only needed when a run executes

    release = run.release
    workflow = run.workflow
    assert workflow.current_version is not None
    definition = workflow.current_version.definition
    base = _current_model(definition)
    TrainingRun.objects.filter(pk=run.pk).update(base=base)

    _progress(run, 5, f"Reading release {release.release_name}")
    examples = list(release_examples(release, text_fields=definition["text_fields"]))
    train = [e for e in examples if e.split == "train"]
    held_out = [e for e in examples if e.split in HELD_OUT_SPLITS]
    if not train:
        raise TrainingFailed(
            f"Release {release.release_name} has no labeled rows in its train split "
            f"({len(examples)} labeled rows in all; rejections carry no label): "
            "build a release with more corrections."
        )
    if not held_out:
        raise TrainingFailed(
            f"Release {release.release_name} has no labeled validation or test rows to evaluate "
            "the candidate on: build a release with more corrections."
        )
    seed = seed_examples(base)
    unknown = sorted({e.label for e in examples} - set(base.labels)) if base.labels else []
    if unknown:
        raise TrainingFailed(
            f"Release {release.release_name} has labels the model does not know: "
            f"{', '.join(unknown)}."
        )

    _progress(run, 20, f"Training on {len(train)} corrections and {len(seed)} seed examples")
    model = build_classifier()
    model.fit([e.text for e in [*seed, *train]], [e.label for e in [*seed, *train]])

    _progress(run, 70, f"Evaluating on {len(held_out)} held-out corrections")
    texts = [e.text for e in held_out]
    truth = [e.label for e in held_out]
    current = SklearnAdapter(artefact=base.artefact, sha256=base.sha256).model
    metrics: dict[str, Any] = {
        "held_out_size": len(held_out),
        "train_size": len(train),
        "seed_size": len(seed),
        "skipped_rejections": _skipped(release),
        "current": evaluate(current, texts, truth),
        "candidate": evaluate(model, texts, truth),
    }

    _progress(run, 85, "Writing the model artefact")
    version = f"{base.version}-retrained-{run.pk}"
    # Each team's artefacts in their own folder: the file is trained on that team's corrections.
    relative = f"models/{run.workflow.team.slug}/{base.name}-{version}.skops"
    exists = ModelVersion.objects.filter(name=base.name, version=version).exists()
    if exists or artefact_exists(relative):
        # Registering updates a row in place: never let a run overwrite another model.
        raise TrainingFailed(f"A model {base.name}@{version} already exists.")
    data = skops_io.dumps(model)
    untrusted = set(skops_io.get_untrusted_types(data=data)) - TRUSTED_TYPES
    if untrusted:
        raise TrainingFailed(
            f"The trained model holds types the pipeline refuses to load: {sorted(untrusted)}."
        )
    artefact_save(relative, data)

    _progress(run, 95, "Registering the candidate")
    with transaction.atomic():
        candidate = model_version_register(
            name=base.name,
            version=version,
            artefact=relative,
            labels=[str(label) for label in model.classes_],
            metrics=metrics["candidate"] | {"held_out_size": len(held_out)},
            team=run.workflow.team,
        )
        candidate.card = model_card(run=run, base=base, metrics=metrics)
        candidate.save(update_fields=["card"])
    return candidate, metrics


def _current_model(definition: dict) -> ModelVersion:
    binding = definition["model"]
    base = ModelVersion.objects.filter(name=binding["name"], version=binding["version"]).first()
    if base is None:
        raise TrainingFailed(
            f"The workflow's model {binding['name']}@{binding['version']} is gone."
        )
    if base.adapter != ModelAdapterKind.SKLEARN:
        raise TrainingFailed(
            f"The workflow's model {base} is a remote endpoint; only the built-in model can be "
            "retrained here."
        )
    return base


def _finish_succeeded(
    run: TrainingRun, candidate: ModelVersion, metrics: dict
) -> TrainingRun | None:
    with transaction.atomic(durable=True):
        finished = TrainingRun.objects.filter(pk=run.pk, status=TrainingRunStatus.RUNNING).update(
            status=TrainingRunStatus.SUCCEEDED,
            progress=100,
            stage=f"Candidate {candidate} registered",
            candidate=candidate,
            metrics=metrics,
            finished_at=timezone.now(),
        )
        if not finished:
            return None  # the sweep gave up on this run meanwhile; its verdict stands
        run.refresh_from_db()
        audit_record(
            action="retrain.succeeded",
            obj=run,
            chain=run.workflow.audit_chain,
            data={
                "release": run.release.release_name,
                "candidate": str(candidate),
                "sha256": candidate.sha256,
                "current": metrics["current"],
                "metrics": metrics["candidate"],
            },
        )
    return run


def _finish_failed(run: TrainingRun, error: str) -> TrainingRun | None:
    with transaction.atomic(durable=True):
        finished = TrainingRun.objects.filter(pk=run.pk, status=TrainingRunStatus.RUNNING).update(
            status=TrainingRunStatus.FAILED,
            stage="Failed",
            error=error,
            finished_at=timezone.now(),
        )
        if not finished:
            return None
        run.refresh_from_db()
        audit_record(
            action="retrain.failed",
            obj=run,
            chain=run.workflow.audit_chain,
            data={"release": run.release.release_name, "error": error},
        )
    return run


def training_runs_resume_stalled(*, stalled_after: timedelta | None = None) -> dict[str, list]:
    """Find runs whose worker went quiet for ``stalled_after`` (a beat sweep).

    A queued run that no worker picked up lost its message (a broker restart): it is enqueued
    again; the claim (queued -> running) makes a duplicate message harmless. A running run that
    stopped beating lost its worker mid-training: it is failed with a reason, because a
    half-trained model cannot be resumed and a silent retry could register a second candidate;
    whoever started it can start it again. A worker that was only slow finds its run failed at
    its next stage and stops. Compare-and-swap on ``heartbeat_at`` keeps overlapping sweeps from
    acting twice.
    """
    stalled_after = stalled_after or settings.REVIEWAPP_TRAINING_STALLED_AFTER
    now = timezone.now()
    acted: dict[str, list] = {"requeued": [], "failed": []}
    candidates = TrainingRun.objects.filter(
        status__in=[TrainingRunStatus.QUEUED, TrainingRunStatus.RUNNING],
        heartbeat_at__lt=now - stalled_after,
    ).values_list("pk", "status", "heartbeat_at", "stage")
    for run_id, status, seen, stage in candidates:
        with transaction.atomic(durable=True):
            same = TrainingRun.objects.filter(pk=run_id, status=status, heartbeat_at=seen)
            quiet = f"no sign of a worker since {seen.isoformat() if seen else 'it was queued'}"
            if status == TrainingRunStatus.QUEUED:
                if not same.update(heartbeat_at=now):
                    continue
                action, data = "retrain.requeued", {"reason": quiet}
                job_send_on_commit(RETRAIN_TASK, run_id)
            else:
                error = (
                    f"The worker training this model stopped responding ({quiet}, at "
                    f'stage "{stage}"). Start the training again.'
                )
                if not same.update(
                    status=TrainingRunStatus.FAILED, stage="Failed", error=error, finished_at=now
                ):
                    continue
                action, data = "retrain.failed", {"reason": "stalled", "error": error}
            run = TrainingRun.objects.select_related("workflow", "release").get(pk=run_id)
            audit_record(
                action=action,
                obj=run,
                chain=run.workflow.audit_chain,
                data={"release": run.release.release_name, **data},
            )
        acted["requeued" if action == "retrain.requeued" else "failed"].append(run_id)
    return acted


# --- data -------------------------------------------------------------------------------------


def seed_examples(base: ModelVersion) -> list[Example]:
    """The examples the seed model learned from, for models descended from the demo's.

    Mirrors ``workflows.demo.model.train_demo_model``: its first 80 % of the generated tickets.
    """
    from workflows.demo.definition import TICKET_TRIAGE

    if base.name != TICKET_TRIAGE.definition["model"]["name"]:
        return []
    tickets = generate_tickets(TRAINING_SIZE, seed=TRAINING_SEED, mixed_share=0.2)
    train = tickets[: int(len(tickets) * 0.8)]
    return [Example(text=ticket_text(t.as_input()), label=t.label, split="seed") for t in train]


def release_examples(release: DatasetExport, *, text_fields: list[str]) -> Iterator[Example]:
    """Labeled examples from the release's data file, in file order."""
    try:
        with release_file_open(release, sha256=release.sha256) as handle:
            for row in READERS[release.format](handle):
                label = _label(row.get("human_output"))
                if label is None:
                    continue
                text = "\n".join(str(row["input"].get(name, "")) for name in text_fields)
                yield Example(text=text, label=label, split=str(row.get("split", "")))
    except (ReleaseFileMissing, ReleaseFileChanged) as unusable:
        raise TrainingFailed(str(unusable)) from None


def _label(human_output) -> str | None:
    if not isinstance(human_output, dict):
        return None
    label = human_output.get("label")
    return str(label) if label not in (None, "") else None


def _skipped(release: DatasetExport) -> int:
    by_class = (release.manifest or {}).get("counts", {}).get("by_class", {})
    return int(by_class.get("(none)", 0))


# --- evaluation -------------------------------------------------------------------------------


def evaluate(model, texts: list[str], truth: list[str]) -> dict:
    """Accuracy, multi-class Brier score and expected calibration error (top label, 10 bins)."""
    import numpy as np

    probabilities = np.asarray(model.predict_proba(texts))
    classes = [str(c) for c in model.classes_]
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)], dtype=float)
    # A label the model has never heard of counts as probability 0 on the right answer.
    onehot = np.array([[1.0 if c == t else 0.0 for c in classes] for t in truth])
    missing = np.array([0.0 if t in classes else 1.0 for t in truth])
    brier = float(np.mean(((probabilities - onehot) ** 2).sum(axis=1) + missing))
    confidence = probabilities.max(axis=1)
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    ece = 0.0
    for b in range(CALIBRATION_BINS):
        inside = bins == b
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            ece += inside.mean() * gap
    return {
        "accuracy": round(float(correct.mean()), 4),
        "brier": round(brier, 4),
        "ece": round(float(ece), 4),
    }


def _manifest_sha256(release: DatasetExport) -> str | None:
    storage = exports_storage()
    name = f"{release_dir(release)}/manifest.json"
    return stored_sha256(storage, name) if storage.exists(name) else None


def model_card(*, run: TrainingRun, base: ModelVersion, metrics: dict) -> dict:
    release = run.release
    manifest = release.manifest or {}
    return {
        "description": (
            f"{base.name} retrained from {base} on the human corrections of "
            f"{run.workflow.slug} release {release.release_name} (training run {run.pk})."
        ),
        "intended_use": (
            f"Triage of {run.workflow.name} items as a canary candidate against {base}; promote "
            "only after the canary's gates pass on live traffic."
        ),
        "training_data": {
            "release": release.release_name,
            "export_id": release.pk,
            "dataset": manifest.get("dataset", ""),
            "format": release.format,
            "file_sha256": release.sha256,
            "manifest_sha256": _manifest_sha256(release),
            "manifest_files": manifest.get("files", []),
            "filters": release.filters,
            "train_rows": metrics["train_size"],
            "seed_examples": metrics["seed_size"],
            "skipped_rejections": metrics["skipped_rejections"],
        },
        "evaluation": {
            "data": (
                f"{metrics['held_out_size']} corrections in the validation and test splits of "
                f"{release.release_name} (split by input hash, never trained on)"
            ),
            "current": {"model": str(base), **metrics["current"]},
            "candidate": metrics["candidate"],
        },
        "limitations": [
            "Evaluated only on items reviewers corrected: the model the workflow used was wrong "
            "on every one of them, so its accuracy there is near zero by construction and says "
            "little about ordinary traffic; the canary measures that.",
            "The held-out rows are few when the release is small; treat differences of a few "
            "points as noise.",
            "A release holds corrections only, never the items reviewers accepted: the model "
            "learns from the old model's mistakes alone and may under-predict a class the old "
            "model already answered right on new kinds of input.",
            "Rejected items (no human label) are not learned from.",
        ],
        "trained_at": timezone.now().isoformat(),
        "requested_by": run.requested_by.get_username() if run.requested_by else None,
    }
