"""Correction datasets: request -> approval by someone else -> build -> release -> download.

An approved export becomes release v<N> of its workflow: immutable files under
``datasets/<workflow>/v<N>/`` in the ``exports`` storage (``reviewapp.core.files``) with the data
file, ``manifest.json`` (counts, filters, versions, checksums, the approval chain) and a data card.
A build writes the release in a private temporary folder of the worker, then uploads it: the
storage may be another machine's disk or an object store.
"""

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import Http404
from django.utils import timezone

from reviewapp.core.audit.services import audit_record
from reviewapp.core.checksums import file_sha256
from reviewapp.core.errors import Conflict, Forbidden
from reviewapp.core.files import exports_storage, file_put
from reviewapp.core.jobs import job_send_on_commit
from reviewapp.core.quotas import team_quota_take
from reviewapp.learn.datasets.exporters import (
    EXTENSIONS,
    LINE_FORMATS,
    WRITERS,
    Line,
    hf_front_matter,
    write_hf_splits,
    zip_folder,
)
from reviewapp.learn.datasets.filters import (
    UPTO,
    SpecInvalid,
    spec_filters_parse,
    spec_matching,
)
from reviewapp.learn.datasets.lineage import (
    ROWS_INDEX_FILE,
    release_lineage,
    release_rows_index,
    rows_index_diff,
)
from reviewapp.learn.datasets.manifest import (
    AUDIT_HEADS_FILE,
    Tally,
    data_card,
    ordered_splits,
    release_audit_heads,
    release_manifest,
    write_json,
)
from reviewapp.learn.datasets.models import (
    DatasetExport,
    ExportApproval,
    ExportFormat,
    ExportStatus,
    ReleaseFile,
)
from reviewapp.learn.datasets.naming import release_download_name
from reviewapp.learn.datasets.preferences import (
    preference_filters_check,
    preference_matching,
    preference_rows_counted,
)
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import PreferenceRow, RowEncoder
from reviewapp.learn.datasets.specs import spec_lines_counted, spec_rows_counted
from reviewapp.review.corrections.models import Correction

BUILD_TASK = "datasets.build_export"

# A progress report is one UPDATE: every 5,000 rows keeps the bar moving several times a second
# without the database round trips showing in the export's speed.
PROGRESS_EVERY = 5000
FETCH_ROWS = 5000  # rows per fetch from the server-side cursor


class ExportConflict(Conflict):
    """The export is not in a state that allows this step."""


class ExportForbidden(Forbidden):
    """The user may not take this step on this export."""


class ExportMissingFormat(Http404):
    """The release was not built in the format asked for."""


class ExportInvalid(SpecInvalid):
    detail = "The export request is not valid."


def workflow_is_sensitive(workflow) -> bool:
    version = workflow.current_version
    return bool(version and version.definition.get("sensitive"))


def _audit(export: DatasetExport, action: str, actor=None, **data) -> None:
    audit_record(
        action=action,
        obj=export,
        actor=actor,
        chain=export.workflow.audit_chain,
        data={"format": export.format, "formats": export.all_formats, **data},
    )


def _parse(workflow, filters) -> dict:
    try:
        return spec_filters_parse(workflow=workflow, filters=filters)
    except SpecInvalid as invalid:
        raise ExportInvalid(invalid.errors) from None


def _formats(export_format: str | None, export_formats: list[str] | None) -> list[str]:
    """The formats asked for, deduplicated in the order given, or ``ExportInvalid``."""
    wanted = list(export_formats or []) or [export_format or ExportFormat.JSONL]
    unknown = [f for f in wanted if not isinstance(f, str) or f not in ExportFormat.values]
    if unknown:
        raise ExportInvalid({"formats": [f"Choose from {', '.join(ExportFormat.values)}."]})
    if export_format and export_formats and export_format not in export_formats:
        raise ExportInvalid({"format": ["Give format or formats, not two different choices."]})
    chosen = list(dict.fromkeys(wanted))
    if ExportFormat.PREFERENCE_JSONL in chosen and len(chosen) > 1:
        # Preference pairs are other rows (comparisons, not corrections): a release of their own.
        raise ExportInvalid(
            {"formats": ["Preference pairs are a release of their own; request them alone."]}
        )
    return chosen


@transaction.atomic(durable=True)
def dataset_export_request(
    *,
    workflow,
    requested_by,
    export_format: str | None = None,
    export_formats: list[str] | None = None,
    filters: dict | None = None,
    note: str = "",
    include_sensitive: bool = False,
) -> DatasetExport:
    """Ask for a release in one or more formats (``export_formats``; ``export_format`` is the
    single-format form): one approval covers them all."""
    formats = _formats(export_format, export_formats)
    export_format = formats[0]
    clean = _parse(workflow, filters if filters is not None else {})
    if export_format == ExportFormat.PREFERENCE_JSONL:
        if "decision" not in (filters or {}):
            del clean["decision"]  # the parser's default; comparisons have no decision kind
        try:
            preference_filters_check(clean)
        except SpecInvalid as invalid:
            raise ExportInvalid(invalid.errors) from None
        matching: QuerySet = preference_matching(workflow=workflow, filters=clean)
    else:
        matching = spec_matching(workflow=workflow, filters=clean)
    if not matching.exists():
        raise ExportInvalid({"filters": ["This spec matches 0 rows; widen the filters."]})
    team_quota_take(
        team_id=workflow.team_id,
        in_flight=DatasetExport.objects.filter(
            workflow__team_id=workflow.team_id,
            status__in=[ExportStatus.REQUESTED, ExportStatus.APPROVED, ExportStatus.BUILDING],
        ),
        limit=settings.REVIEWAPP_TEAM_MAX_EXPORTS,
        what="dataset exports",
    )
    export = DatasetExport.objects.create(
        workflow=workflow,
        format=export_format,
        formats=formats,
        filters=clean,
        requested_by=requested_by,
        requested_at=timezone.now(),
        note=note,
        include_sensitive=include_sensitive,
        approvals_required=2 if workflow_is_sensitive(workflow) else 1,
    )
    _audit(
        export,
        "export.requested",
        requested_by,
        filters=export.filters,
        include_sensitive=include_sensitive,
        approvals_required=export.approvals_required,
    )
    return export


def _locked(export: DatasetExport) -> DatasetExport:
    return (
        DatasetExport.objects.select_for_update(of=("self",))
        .select_related("workflow")
        .get(pk=export.pk)
    )


def _waiting(export: DatasetExport) -> None:
    if export.status != ExportStatus.REQUESTED:
        raise ExportConflict(
            f"This export is {export.get_status_display().lower()}, not waiting for approval."
        )


@transaction.atomic(durable=True)
def dataset_export_approve(
    *, export: DatasetExport, approver, allow_sensitive: bool = False
) -> DatasetExport:
    """Record one approval; the last one needed publishes the release and enqueues the build."""
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot approve it; ask a colleague.")
    _waiting(export)
    if export.approvals.filter(approver=approver).exists():
        raise ExportConflict(
            "You already approved this export; a different colleague must give the second approval."
        )
    now = timezone.now()
    ExportApproval.objects.create(
        export=export, approver=approver, approved_at=now, allowed_sensitive=allow_sensitive
    )
    given = export.approvals.count()
    if given < export.approvals_required:
        _audit(
            export,
            "export.approval_added",
            approver,
            approvals=given,
            approvals_required=export.approvals_required,
            allowed_sensitive=allow_sensitive,
        )
        return export
    # The workflow row lock serialises release numbering between concurrent approvals.
    type(export.workflow).objects.select_for_update().filter(pk=export.workflow_id).first()
    last = DatasetExport.objects.filter(workflow_id=export.workflow_id).aggregate(
        last=Max("release_version")
    )["last"]
    export.status = ExportStatus.APPROVED
    export.decided_by = approver
    export.decided_at = now
    export.heartbeat_at = now
    export.release_version = (last or 0) + 1
    # The rows are fixed here: a build (and a rebuild) reads no correction newer than this.
    export.corrections_upto = Correction.objects.filter(workflow_id=export.workflow_id).aggregate(
        upto=Max("pk")
    )["upto"]
    export.sensitive_included = (
        export.include_sensitive and not export.approvals.filter(allowed_sensitive=False).exists()
    )
    export.save(
        update_fields=[
            "status",
            "decided_by",
            "decided_at",
            "heartbeat_at",
            "release_version",
            "corrections_upto",
            "sensitive_included",
        ]
    )
    _audit(
        export,
        "export.approved",
        approver,
        release=export.release_name,
        approvals=given,
        allowed_sensitive=allow_sensitive,
        sensitive_included=export.sensitive_included,
    )
    job_send_on_commit(BUILD_TASK, export.pk)
    return export


@transaction.atomic(durable=True)
def dataset_export_reject(*, export: DatasetExport, approver, reason: str) -> DatasetExport:
    if not reason.strip():
        raise ExportInvalid({"reason": ["Say why the export is rejected."]})
    export = _locked(export)
    if export.requested_by_id == approver.pk:
        raise ExportForbidden("The requester of an export cannot decide on it.")
    _waiting(export)
    export.status = ExportStatus.REJECTED
    export.decided_by = approver
    export.decided_at = timezone.now()
    export.decision_reason = reason.strip()
    export.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    _audit(export, "export.rejected", approver, reason=export.decision_reason)
    return export


# --- build ------------------------------------------------------------------------------------


def release_dir(export: DatasetExport) -> str:
    """The release's folder in the ``exports`` storage."""
    return f"datasets/{export.workflow.slug}/{export.release_name}"


def _stored_name(export_format: str) -> str:
    """A format's downloadable file inside the release folder (distinct per format)."""
    if export_format == ExportFormat.HF_DATASET:
        return "dataset.zip"
    return f"data.{EXTENSIONS[export_format]}"


def format_path(export: DatasetExport, export_format: str) -> str:
    """Where a format's file of the release is in the ``exports`` storage."""
    if export.release_version is None:
        # Built before releases existed (see migration 0003): the old flat location.
        return f"exports/export-{export.pk}.{EXTENSIONS[export_format]}"
    return f"{release_dir(export)}/{_stored_name(export_format)}"


def export_name(export: DatasetExport) -> str:
    """The file of the release's first format (the one ``format``, ``sha256`` and
    ``size_bytes`` describe): what training and Label Studio read."""
    return format_path(export, export.format)


def download_name(export: DatasetExport, export_format: str) -> str:
    return release_download_name(
        workflow_slug=export.workflow.slug,
        version=export.release_version,
        export_format=export_format,
        filters=export.filters,
    )


def file_name(name: str) -> str:
    return name.rpartition("/")[2]


@contextmanager
def release_file_open(export: DatasetExport, *, sha256: str | None = None) -> Iterator[Any]:
    """The release's file, seekable (object stores spill it to a temporary file), checked
    against ``sha256`` first when given (ReleaseFileChanged)."""
    storage = exports_storage()
    name = export_name(export)
    if not storage.exists(name):
        raise ReleaseFileMissing(f"The data file of release {export.release_name} is missing.")
    with storage.open(name, "rb") as handle:
        if sha256 is not None:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            if digest.hexdigest() != sha256:
                raise ReleaseFileChanged(
                    f"The data file of release {export.release_name} does not match its "
                    "recorded checksum; it was changed after the release was built."
                )
            handle.seek(0)
        yield handle


class ReleaseFileMissing(FileNotFoundError):
    """The release's file is not in the storage (deleted there by hand)."""


class ReleaseFileChanged(Exception):
    """The release's file no longer has the checksum recorded when it was built."""


class ReleaseInconsistent(OSError):
    """Two formats of one build read different rows. Cannot happen while the rows are bounded
    by ``corrections_upto`` unless corrections were deleted mid-build (an undo); an OSError,
    so the build task retries it like a storage hiccup and fails the export after that."""


class _Superseded(Exception):
    """A newer build attempt took over this export; this one stops without publishing."""


def _beat(export: DatasetExport, attempt: int, **fields) -> None:
    updated = DatasetExport.objects.filter(
        pk=export.pk, status=ExportStatus.BUILDING, build_attempt=attempt
    ).update(heartbeat_at=timezone.now(), **fields)
    if not updated:
        raise _Superseded


def build_filters(export: DatasetExport) -> dict:
    """The export's filters plus its row bound: what every read of a build goes by."""
    if export.corrections_upto is None:
        return dict(export.filters)  # approved before the bound existed
    return {**export.filters, UPTO: export.corrections_upto}


def dataset_export_build(*, export_id: int) -> DatasetExport | None:
    """Write the release, every format from the same rows, streaming, with progress. Safe to
    run again after a crash.

    A rerun starts over with a new attempt number and its own partial files; rows stream from
    the database in a fixed order and no newer than ``corrections_upto``, so the finished
    release is the same whichever run wins.
    """
    with transaction.atomic(durable=True):
        export = (
            DatasetExport.objects.select_for_update(of=("self",))
            .select_related("workflow", "requested_by", "decided_by")
            .filter(pk=export_id, status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING])
            .first()
        )
        if export is None:
            return None  # already built, failed or never approved
        restarted = export.status == ExportStatus.BUILDING
        export.status = ExportStatus.BUILDING
        export.rows_total = None  # known once the rows are read (spec_rows_counted)
        export.rows_done = 0
        export.build_attempt += 1
        export.heartbeat_at = timezone.now()
        export.save(
            update_fields=["status", "rows_total", "rows_done", "build_attempt", "heartbeat_at"]
        )
        _audit(
            export,
            "export.build_restarted" if restarted else "export.building",
            attempt=export.build_attempt,
        )
    attempt = export.build_attempt
    sensitive = {} if export.sensitive_included else sensitive_fields(export.workflow)
    try:
        built = _write_release(export, attempt, sensitive)
    except _Superseded:
        return None
    with transaction.atomic(durable=True):
        export = _locked(export)
        if export.status != ExportStatus.BUILDING or export.build_attempt != attempt:
            return None
        first = built.downloads[0]
        export.status = ExportStatus.READY
        export.rows_done = built.rows
        export.rows_total = built.rows
        export.file_name = first.download_name
        export.sha256 = first.sha256
        export.size_bytes = first.size_bytes
        export.built_at = timezone.now()
        export.expires_at = export.built_at + settings.REVIEWAPP_EXPORT_LINK_TTL
        export.manifest = built.manifest
        export.diff = built.diff
        export.save()
        ReleaseFile.objects.filter(export=export).delete()  # a rebuild's, superseded
        for download in built.downloads:
            download.export = export
        ReleaseFile.objects.bulk_create(built.downloads)
        _audit(
            export,
            "export.ready",
            rows=built.rows,
            sha256=export.sha256,
            release=export.release_name,
            files=built.files,
            downloads={d.format: d.sha256 for d in built.downloads},
        )
    return export


@dataclass(frozen=True)
class _Built:
    rows: int
    files: dict[str, str]  # data file name -> sha256, as in the manifest
    downloads: list[ReleaseFile]  # one per format, in the order asked for (unsaved)
    manifest: dict
    diff: dict


def _write_release(export, attempt, sensitive) -> _Built:
    # A private working folder per attempt on the worker's own disk; the release appears in the
    # storage only once complete and only if this attempt still owns the build.
    with tempfile.TemporaryDirectory(prefix=f"export-{export.pk}-{attempt}-") as folder:
        work = Path(folder)
        built, published = _write_files(export, attempt, sensitive, work)
        _beat(export, attempt)  # still ours? then publish
        storage = exports_storage()
        for name in published:
            with (work / name).open("rb") as handle:
                file_put(storage, f"{release_dir(export)}/{name}", handle)
    return built


@contextmanager
def _rows_of(export, export_format: str, filters: dict, sensitive, tally: Tally):
    """``(how many, stream)`` of the release's rows as the format's writer takes them."""
    spec = {"workflow": export.workflow, "filters": filters, "chunk": FETCH_ROWS}
    if export_format == ExportFormat.PREFERENCE_JSONL:
        with preference_rows_counted(**spec) as (total, values):
            yield total, tally.preferences(values, RowEncoder(sensitive, PreferenceRow))
    elif export_format in LINE_FORMATS:
        # JSONL (and the Hugging Face folder, made of JSONL) arrive as ready lines.
        with spec_lines_counted(**spec, sensitive=sensitive) as (total, lines):
            yield total, tally.lines(cast(Iterator[list[Line]], lines))
    else:
        with spec_rows_counted(**spec) as (total, values):
            yield total, tally.rows(values, RowEncoder(sensitive))


def _write_files(export, attempt, sensitive, work: Path) -> tuple[_Built, list[str]]:
    """Write the release into ``work``; return what it is and its files, in publishing order
    (data first, so a reader of the manifest finds the files it names)."""
    formats = export.all_formats
    filters = build_filters(export)
    done = 0  # rows written by the formats before, for the progress bar
    first: tuple[int, dict[str, int]] | None = None
    tally = Tally()
    data_files: list[str] = []
    for export_format in formats:
        tally = Tally()
        written = 0

        def progress(counts, offset=done):
            # Writers count row by row, or list by list for lines (see exporters.LINE_FORMATS).
            nonlocal written
            reported = 0
            for written in counts:
                if written - reported >= PROGRESS_EVERY:
                    _beat(export, attempt, rows_done=offset + written)
                    reported = written

        with _rows_of(export, export_format, filters, sensitive, tally) as (total, stream):
            _beat(export, attempt, rows_total=total * len(formats), rows_done=done)
            if export_format == ExportFormat.HF_DATASET:
                progress(write_hf_splits(stream, work))
                data_files += sorted(
                    p.relative_to(work).as_posix() for p in (work / "data").glob("*")
                )
            else:
                data_files.append(_stored_name(export_format))
                with (work / data_files[-1]).open("wb") as handle:
                    progress(WRITERS[export_format](stream, handle))
        # Same rows, same split; the class counts follow from the rows.
        seen = (written, tally.counts()["by_split"])
        if first is None:
            first = seen
        elif seen != first:
            raise ReleaseInconsistent(
                f"The {export_format} file read other rows than the {formats[0]} file."
            )
        done += written
    rows = first[0] if first else 0
    files = {name: file_sha256(work / name) for name in data_files}
    preferences = export.format == ExportFormat.PREFERENCE_JSONL
    lineage = {} if preferences else release_lineage(export.workflow, filters)
    manifest = release_manifest(export, rows, tally, files, sensitive) | {
        "formats": formats,
        "downloads": {f: download_name(export, f) for f in formats},
        "lineage": lineage,
    }
    card = data_card(export, manifest)
    published = list(data_files)
    write_json(work / "manifest.json", manifest)
    if ExportFormat.HF_DATASET in formats:
        splits = [Path(name).stem for name in data_files if name.startswith("data/")]
        (work / "README.md").write_text(hf_front_matter(ordered_splits(splits)) + card)
        with (work / "dataset.zip").open("wb") as handle:
            hf_files = [name for name in data_files if name.startswith("data/")]
            zip_folder(work, ["README.md", "manifest.json", *hf_files], handle)
        published += ["dataset.zip", "README.md"]
    published.append("manifest.json")
    if formats != [ExportFormat.HF_DATASET]:
        (work / "DATACARD.md").write_text(card)
        published.append("DATACARD.md")
    diff: dict = {}
    if not preferences:
        release_rows_index(export.workflow, filters, work / ROWS_INDEX_FILE)
        published.append(ROWS_INDEX_FILE)
        diff = _diff_with_previous(export, work / ROWS_INDEX_FILE)
    write_json(work / AUDIT_HEADS_FILE, release_audit_heads(export))
    downloads = []
    for export_format in formats:
        stored = work / _stored_name(export_format)
        downloads.append(
            ReleaseFile(
                format=export_format,
                path=format_path(export, export_format),
                download_name=download_name(export, export_format),
                # Data files were hashed for the manifest already; only the HF zip is new here.
                sha256=files.get(stored.name) or file_sha256(stored),
                size_bytes=stored.stat().st_size,
            )
        )
    built = _Built(
        rows=rows,
        files=files,
        downloads=downloads,
        manifest=json.loads((work / "manifest.json").read_text()),
        diff=diff,
    )
    return built, [*published, AUDIT_HEADS_FILE]


def _diff_with_previous(export: DatasetExport, index: Path) -> dict:
    """How this release's rows differ from the previous corrections release of its workflow."""
    previous = (
        DatasetExport.objects.filter(
            workflow_id=export.workflow_id,
            release_version__lt=export.release_version,
            status__in=[ExportStatus.READY, ExportStatus.EXPIRED],
        )
        .exclude(format=ExportFormat.PREFERENCE_JSONL)
        .select_related("workflow")
        .order_by("-release_version")
        .first()
    )
    if previous is None:
        return {"previous": None}
    facts = {"previous": previous.release_name, "previous_id": previous.pk}
    storage = exports_storage()
    name = f"{release_dir(previous)}/{ROWS_INDEX_FILE}"
    if not storage.exists(name):
        return facts | {"unavailable": f"Release {previous.release_name} has no row index."}
    with storage.open(name, "rb") as before, index.open("rb") as after:
        return facts | rows_index_diff(before, after)


def dataset_exports_resume_stalled(*, stalled_after: timedelta | None = None) -> list[int]:
    """Re-enqueue builds that made no progress for ``stalled_after`` (e.g. a worker restart).

    The compare-and-swap on ``heartbeat_at`` lets overlapping sweeps each claim a stalled export
    at most once; the rebuild itself is fenced by ``build_attempt``.
    """
    stalled_after = stalled_after or settings.REVIEWAPP_EXPORT_STALLED_AFTER
    now = timezone.now()
    cutoff = now - stalled_after
    resumed: list[int] = []
    candidates = DatasetExport.objects.filter(
        status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING], heartbeat_at__lt=cutoff
    ).values_list("pk", "heartbeat_at")
    for export_id, seen in candidates:
        with transaction.atomic(durable=True):
            claimed = DatasetExport.objects.filter(
                pk=export_id,
                status__in=[ExportStatus.APPROVED, ExportStatus.BUILDING],
                heartbeat_at=seen,
            ).update(heartbeat_at=now)
            if not claimed:
                continue
            export = DatasetExport.objects.select_related("workflow").get(pk=export_id)
            _audit(
                export,
                "export.build_resumed",
                status=export.status,
                rows_done=export.rows_done,
                last_heartbeat=seen.isoformat() if seen else None,
            )
            job_send_on_commit(BUILD_TASK, export_id)
        resumed.append(export_id)
    return resumed


@transaction.atomic(durable=True)
def dataset_export_download(
    *, export: DatasetExport, user, export_format: str | None = None
) -> ReleaseFile:
    """Check that the file of ``export_format`` (the first format when not given) may be handed
    out now, audit the download, return which file it is."""
    export = _locked(export)
    if export.status != ExportStatus.READY:
        raise ExportConflict("This export has no file to download yet.")
    if export.expires_at is not None and export.expires_at <= timezone.now():
        raise ExportConflict("This download link has expired; request the export again.")
    wanted = export_format or export.format
    release_file = export.files.filter(format=wanted).first()
    if release_file is None:
        raise ExportMissingFormat(
            f"Release {export.release_name or export.pk} has no {wanted} file; it has "
            f"{', '.join(export.all_formats)}."
        )
    _audit(export, "export.downloaded", user, downloaded=wanted)
    return release_file


def dataset_export_fail(*, export_id: int, error: str) -> None:
    with transaction.atomic(durable=True):
        export = (
            DatasetExport.objects.select_for_update(of=("self",))
            .select_related("workflow")
            .filter(pk=export_id, status=ExportStatus.BUILDING)
            .first()
        )
        if export is None:
            return
        export.status = ExportStatus.FAILED
        export.error = error
        export.save(update_fields=["status", "error"])
        _audit(export, "export.failed", error=error)
