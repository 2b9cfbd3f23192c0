"""What a reviewer can take on, in one shape for a reviewer's profile and a queue's needs:
skill and language tags, and caps on open claims."""

import re
from typing import Any

TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_CAP = 1000


def tags_errors(value: Any, what: str) -> tuple[list[str], list[str]]:
    """``(clean tags, errors)`` for a list of skill or language tags."""
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        return [], [f"Give the {what} as a list of short names."]
    tags = sorted({tag.strip().lower() for tag in value})
    bad = [tag for tag in tags if not TAG_PATTERN.match(tag)]
    if bad:
        return [], [
            f"Use lower-case letters, digits, - and _ (at most 40) for {what}: {', '.join(bad)}."
        ]
    return tags, []


def cap_errors(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CAP:
        return [f"Give a whole number from 1 to {MAX_CAP}, or nothing for no cap."]
    return []
