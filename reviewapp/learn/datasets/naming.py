"""What a release's downloads are called: ``<workflow>-v<N>-<kind>.<ext>``.

The name says where the file came from once it sits in someone's downloads folder among
others: the workflow, the release and what the rows are (``verified``, ``corrections``,
``preferences``, ...), and the format by its extension (plus a suffix where two formats would
share one). Only letters, digits, dots, dashes and underscores: safe in a Content-Disposition
header and on every file system.
"""

import re

# The format: by the extension, and a suffix where the extension alone would not say it.
EXTENSIONS = {
    "jsonl": ".jsonl",
    "csv": ".csv",
    "parquet": ".parquet",
    "label_studio": "-label-studio.json",
    "hf_dataset": "-hf-dataset.zip",
    "preference_jsonl": ".jsonl",
}

# The ``decision`` filter as the kind of rows; specs stored before it existed are corrections.
KINDS = {
    "human_verified": "verified",
    "correct": "corrections",
    "accept": "accepted",
    "reject": "rejections",
    "correct_or_reject": "corrections-rejections",
    "all": "all-decisions",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.") or "dataset"


def release_download_name(
    *, workflow_slug: str, version: int | None, export_format: str, filters: dict
) -> str:
    if export_format == "preference_jsonl":
        kind = "preferences"
    else:
        kind = KINDS.get(filters.get("decision", ""), "corrections")
    release = f"v{version}" if version else "draft"
    return f"{safe_part(workflow_slug)}-{release}-{kind}{EXTENSIONS[export_format]}"
