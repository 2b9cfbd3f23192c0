"""What a release says about itself: the counts gathered while its rows stream past, its
manifest (counts, filters, versions, checksums, the approval chain) and its data card."""

import json
from collections import Counter
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path

from reviewapp.core.audit.heads import audit_heads
from reviewapp.learn.datasets.exporters import Line
from reviewapp.learn.datasets.models import ExportFormat
from reviewapp.learn.datasets.protection import sensitive_fields
from reviewapp.learn.datasets.row import (
    EXPORT_FIELDS,
    PREFERENCE_ROW,
    ROW,
    EncodedRow,
    PreferenceRow,
    RowEncoder,
)
from reviewapp.learn.datasets.specs import TALLY_SEPARATOR, output_class
from reviewapp.learn.datasets.splits import SPLITS

_split_of, _key_of = itemgetter(0), itemgetter(1)


class Tally:
    """Counts gathered while rows stream past, for the manifest and the data card.

    Outputs and reason lists repeat and arrive as shared ``Encoded`` values, so rows are
    counted per distinct value and turned into classes and reasons in bulk (``_fold``), at the
    end or whenever the distinct values pile up (free-text outputs), so memory stays flat.
    """

    DISTINCT_LIMIT = 10_000

    def __init__(self) -> None:
        self.by_split: dict[str, int] = {}
        self.by_output: dict[str, list] = {}  # compact JSON -> [value, rows]
        self.by_reasons: dict[str, list] = {}
        self.by_class: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.workflow_versions: set[int] = set()
        self.model_versions: set[str] = set()

    def _fold(self) -> None:
        for output, rows in self.by_output.values():
            self.by_class[output_class(output)] += rows
        for reasons, rows in self.by_reasons.values():
            for reason in reasons:
                self.by_reason[reason] += rows
        self.by_output.clear()
        self.by_reasons.clear()

    def rows(self, values, encoder: RowEncoder) -> Iterator[EncodedRow]:
        by_split, by_output, by_reasons = self.by_split, self.by_output, self.by_reasons
        for value in values:
            row, version = encoder.row(value)
            by_split[row.split] = by_split.get(row.split, 0) + 1
            output, reasons = row.human_output, row.reason_codes
            counted = by_output.get(output.compact)
            if counted is None:
                by_output[output.compact] = [output.value, 1]
            else:
                counted[1] += 1
            counted = by_reasons.get(reasons.compact)
            if counted is None:
                by_reasons[reasons.compact] = [reasons.value, 1]
            else:
                counted[1] += 1
            if version is not None:
                self.workflow_versions.add(version)
            self.model_versions.add(row.model_version.value)
            if len(by_output) + len(by_reasons) > self.DISTINCT_LIMIT:
                self._fold()
            yield row

    def preferences(self, values, encoder: RowEncoder) -> Iterator[EncodedRow]:
        """Preference rows: counted by split, by the role that won (as the class) and by model."""
        for value in values:
            row, version = encoder.row(value)
            self.by_split[row.split] = self.by_split.get(row.split, 0) + 1
            self.by_class[row.chosen_role] += 1
            if version is not None:
                self.workflow_versions.add(version)
            self.model_versions.update((row.chosen_model.value, row.rejected_model.value))
            yield row

    def lines(self, chunks: Iterator[list[Line]]) -> Iterator[list[Line]]:
        """Counts lines by ``(split, tally key)`` as they pass; folded like the rows above."""
        keys: Counter[tuple[str, str]] = Counter()
        for lines in chunks:
            keys.update(zip(map(_split_of, lines), map(_key_of, lines), strict=True))
            if len(keys) > self.DISTINCT_LIMIT:
                self._fold_keys(keys)
            yield lines
        self._fold_keys(keys)

    def _fold_keys(self, keys: Counter[tuple[str, str]]) -> None:
        for (split, key), rows in keys.items():
            label, reasons, version, model = key.split(TALLY_SEPARATOR, 3)
            self.by_split[split] = self.by_split.get(split, 0) + rows
            self.by_class[output_class({"label": json.loads(label)} if label else None)] += rows
            for reason in json.loads(reasons):
                self.by_reason[reason] += rows
            if version:
                self.workflow_versions.add(int(version))
            self.model_versions.add(model)
        keys.clear()

    def counts(self) -> dict:
        self._fold()
        return {
            "by_split": {name: self.by_split.get(name, 0) for name, _ in SPLITS},
            "by_class": dict(sorted(self.by_class.items())),
            "by_reason": dict(sorted(self.by_reason.items())),
        }


def ordered_splits(splits: list[str]) -> list[str]:
    order = [name for name, _ in SPLITS]
    return sorted(splits, key=order.index)


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _is_preferences(export) -> bool:
    return export.format == ExportFormat.PREFERENCE_JSONL


def release_manifest(export, written: int, tally: Tally, files: dict, sensitive: dict) -> dict:
    approvals = [
        {
            "approver": a.approver.get_username(),
            "approved_at": a.approved_at.isoformat(),
            "allowed_sensitive": a.allowed_sensitive,
        }
        for a in export.approvals.select_related("approver")
    ]
    preferences = _is_preferences(export)
    return {
        "dataset": f"{export.workflow.slug}-{'preferences' if preferences else 'corrections'}",
        "workflow": export.workflow.slug,
        "release": export.release_name,
        "export_id": export.pk,
        "format": export.format,
        "filters": export.filters,
        "rows": written,
        "counts": tally.counts(),
        "split_rule": "sha256(canonical input) % 100: <80 train, <90 validation, else test",
        "deduplicated_by": "none: each decisive comparison is a row (ties are left out)"
        if preferences
        else "input content; the latest correction of each input is kept",
        "fields": list(PreferenceRow.FIELDS if preferences else EXPORT_FIELDS),
        "workflow_versions": sorted(tally.workflow_versions),
        "model_versions": sorted(tally.model_versions),
        "sensitive": {
            "fields": sensitive_fields(export.workflow),
            "included": export.sensitive_included,
        },
        "files": [{"path": name, "sha256": digest} for name, digest in sorted(files.items())],
        # The data file's checksum (single-file formats), as before releases had folders.
        "sha256": next(iter(files.values())) if len(files) == 1 else None,
        "requested_by": export.requested_by.get_username(),
        "approved_by": export.decided_by.get_username() if export.decided_by else None,
        "approval_chain": {
            "requested_by": export.requested_by.get_username(),
            "requested_at": export.requested_at.isoformat(),
            "purpose": export.note,
            "include_sensitive_requested": export.include_sensitive,
            "approvals": approvals,
        },
    }


AUDIT_HEADS_FILE = "audit-heads.json"


def release_audit_heads(export) -> dict:
    """The head of each shard of the workflow's audit chain as the release is built, kept in
    the release's folder (outside the database and outside the dataset's own bytes, which stay
    reproducible): ``manage.py verify_audit --heads`` reads it and shows a later truncation."""
    return {
        "release": export.release_name,
        "workflow": export.workflow.slug,
        "audit_heads": audit_heads(chains=[export.workflow.audit_chain]),
    }


def data_card(export, manifest: dict) -> str:
    counts = manifest["counts"]
    preferences = _is_preferences(export)
    what = "preference" if preferences else "corrections"
    source = (
        "People's choices between two models' answers to the same input, from the pairwise "
        "review queues"
        if preferences
        else "Human decisions from the review queues"
    )
    lines = [
        f"# {export.workflow.name}: {what} dataset {manifest['release']}",
        "",
        "## Purpose",
        export.note or "(The requester gave no purpose.)",
        "",
        "## Source",
        f"{source} of workflow `{export.workflow.slug}` "
        f"(workflow versions {', '.join(map(str, manifest['workflow_versions'])) or '-'}; "
        f"models {', '.join(manifest['model_versions']) or '-'}).",
        f"Filters: `{json.dumps(export.filters, sort_keys=True)}`. Rows: {manifest['rows']} "
        f"(train {counts['by_split']['train']}, validation {counts['by_split']['validation']}, "
        f"test {counts['by_split']['test']}).",
        *_decisions_line(manifest),
        "",
        "## Fields",
        *[
            f"- `{column.name}`: {column.note}"
            for column in (PREFERENCE_ROW if preferences else ROW)
        ],
        "",
        "## Known limitations",
        *(f"- {limit}" for limit in known_limits(export, manifest)),
    ]
    chain = manifest["approval_chain"]
    lines += [
        "",
        "## Approval",
        f"Requested by {chain['requested_by']} at {chain['requested_at']}; approved by "
        + ", ".join(f"{a['approver']} at {a['approved_at']}" for a in chain["approvals"])
        + ".",
        "",
    ]
    return "\n".join(lines)


def _decisions_line(manifest: dict) -> list[str]:
    """Which human decisions the rows come from (lineage); filled in before the card is made."""
    by_outcome = manifest.get("lineage", {}).get("by_outcome")
    if not by_outcome:
        return []
    return [
        "Decisions: " + ", ".join(f"{rows} {outcome}" for outcome, rows in by_outcome.items()) + "."
    ]


def known_limits(export, manifest: dict) -> list[str]:
    """What a user of the release must know before training on it (data card, release page)."""
    sensitive = manifest["sensitive"]["fields"]
    if _is_preferences(export):
        limits = [
            "Only items where a shadow model answered differently from the serving model "
            "were compared, and only a sample of them.",
            "Each preference is one reviewer's choice; ties are left out.",
        ]
    else:
        limits = [
            "Only items a human reviewed are here: confident auto-accepted items are missing "
            "(except QA samples), so the class balance is not the production balance.",
            "Each label comes from one reviewer's decision and may itself be wrong.",
            "Accepted rows have an empty diff: the reviewer confirmed the model's answer.",
            "Rejected rows (if the filters asked for them) have an empty human_output.",
            "Inputs seen more than once keep only their latest correction.",
        ]
    if sensitive and not manifest["sensitive"]["included"]:
        limits.append(
            "Sensitive input fields are altered: "
            + ", ".join(f"{name} ({mode}ed)" for name, mode in sensitive.items())
            + "."
        )
    elif sensitive:
        limits.append(
            "Contains sensitive input fields in clear ("
            + ", ".join(sensitive)
            + "), approved for inclusion."
        )
    return limits
