"""Where a release's rows came from (lineage) and how they differ from the previous release.

Lineage counts the release's rows by the human decision behind them, by model version and by
reviewer, under the pseudonym the rows carry (``Correction.reviewer_pseudonym``, made by
``corrections.services.reviewer_pseudonym``), never a name.

The row index (``rows.tsv`` in the release folder) has one line per row, ``<input hash>\\t<label
fingerprint>``, sorted by input hash: rows are one per distinct input, so comparing two
releases is a merge of two sorted files, in flat memory at any size.
"""

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.db.models import Count, F, TextField
from django.db.models.functions import Cast, Collate

from reviewapp.learn.datasets.filters import postgresql, spec_latest

ROWS_INDEX_FILE = "rows.tsv"
FETCH_ROWS = 5000

# A Label Studio annotation has no review decision.
FROM_LABEL_STUDIO = "label_studio"


def release_lineage(workflow, filters: dict) -> dict:
    """Rows by decision outcome, by model version and by reviewer pseudonym (one query)."""
    by_outcome: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    by_reviewer: Counter[str] = Counter()
    groups = (
        spec_latest(workflow=workflow, filters=filters)
        .order_by()
        .values_list("decision__outcome", "model_version", "reviewer_pseudonym")
        .annotate(rows=Count("id"))
    )
    for outcome, model, reviewer, rows in groups:
        by_outcome[outcome or FROM_LABEL_STUDIO] += rows
        by_model[model] += rows
        by_reviewer[reviewer] += rows
    return {
        "by_outcome": dict(sorted(by_outcome.items())),
        "by_model_version": dict(sorted(by_model.items())),
        "by_reviewer": dict(sorted(by_reviewer.items())),
    }


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def release_rows_index(workflow, filters: dict, path: Path) -> None:
    """Write the row index of the release's rows to ``path``."""
    # Byte order, so the merge in rows_index_diff can compare with Python's string order.
    order = Collate(F("input_hash"), "C") if postgresql() else F("input_hash")
    rows = (
        spec_latest(workflow=workflow, filters=filters)
        .order_by(order)
        .annotate(label_text=Cast("human_output", TextField()))
        .values_list("input_hash", "label_text")
    )
    with path.open("w", encoding="utf-8") as handle:
        for input_hash, label_text in rows.iterator(chunk_size=FETCH_ROWS):
            handle.write(f"{input_hash}\t{_fingerprint(label_text)}\n")


def _entries(handle: IO[bytes]) -> Iterator[tuple[str, str]]:
    for line in handle:
        key, _, label = line.decode().rstrip("\n").partition("\t")
        yield key, label


def rows_index_diff(before: IO[bytes], after: IO[bytes]) -> dict:
    """``added`` / ``removed`` / ``changed`` (same input, other label) / ``unchanged`` rows."""
    counts = {"added": 0, "removed": 0, "changed": 0, "unchanged": 0}
    old, new = _entries(before), _entries(after)
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            counts["removed"] += 1
            a = next(old, None)
        elif a is None or b[0] < a[0]:
            counts["added"] += 1
            b = next(new, None)
        else:
            counts["changed" if a[1] != b[1] else "unchanged"] += 1
            a, b = next(old, None), next(new, None)
    return counts
