"""What text and JSON from outside may hold before it reaches the database or a message.

PostgreSQL refuses a NUL character in text and jsonb, and a lone surrogate (``"\\ud800"`` in JSON)
cannot be encoded as UTF-8 at all; both would fail deep inside a transaction as a 500. Values this
deep or this wide would exhaust the recursion of the JSON decoder, jsonschema and jsonb. So every
request is checked here first and refused with a 400 that names the field, and a refusal never
echoes a long rejected value back (``shown``).
"""

import math
import re
from collections.abc import Iterator
from typing import Any

# Deeper than any real item or settings form; far below what json, jsonschema and jsonb survive.
MAX_JSON_DEPTH = 64
# The longest name of a JSON key, form field or query parameter.
MAX_KEY_LENGTH = 200
# How much of a rejected value or field name a message quotes.
SHOWN_LENGTH = 80
# Problems listed per refusal: enough to fix a request, not a body-sized answer.
MAX_PROBLEMS = 20
# Ids and counts typed into a page: PostgreSQL's bigint holds 18 digits safely.
MAX_DIGITS = 18

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls and DEL, except tab, line feed and carriage return, which typed text may hold.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def shown(value: object, limit: int = SHOWN_LENGTH) -> str:
    """``value`` as text cut to ``limit`` characters, for a message that quotes it."""
    text = value if isinstance(value, str) else str(value)
    text = _CONTROL.sub("\ufffd", _SURROGATE.sub("\ufffd", text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_problem(text: str, *, controls: bool = False) -> str | None:
    """Why ``text`` cannot be stored, or ``None``. ``controls``: other control characters
    (escape, bell, ...) are allowed too, as in an item's free-form input."""
    if "\x00" in text:
        return "Contains a NUL character (\\u0000), which cannot be stored."
    if _SURROGATE.search(text):
        return "Contains a lone surrogate (invalid Unicode), which cannot be stored."
    if not controls and _CONTROL.search(text):
        return "Contains a control character; only tabs and line breaks are allowed."
    return None


def json_problems(value: Any, *, controls: bool = True) -> dict[str, list[str]]:
    """Field-level problems of a decoded JSON value: ``{"input.tags.3": ["..."]}``.

    Walks without recursion so that the depth check itself cannot overflow.
    """
    problems: dict[str, list[str]] = {}
    for path, problem in _walk(value, controls=controls):
        problems.setdefault(path or "non_field_errors", []).append(problem)
        if len(problems) >= MAX_PROBLEMS:
            break
    return problems


def _walk(value: Any, *, controls: bool) -> Iterator[tuple[str, str]]:
    stack: list[tuple[str, int, Any]] = [("", 0, value)]
    while stack:
        path, depth, current = stack.pop()
        if isinstance(current, dict | list) and depth >= MAX_JSON_DEPTH:
            yield path, f"Nested deeper than {MAX_JSON_DEPTH} levels."
            continue
        if isinstance(current, dict):
            for key, child in reversed(list(current.items())):
                key_text = str(key)
                where = f"{path}.{shown(key_text)}" if path else shown(key_text)
                problem = text_problem(key_text, controls=controls)
                if problem is None and len(key_text) > MAX_KEY_LENGTH:
                    problem = f"This key is longer than {MAX_KEY_LENGTH} characters."
                if problem is not None:
                    yield where, problem
                    continue
                stack.append((where, depth + 1, child))
        elif isinstance(current, list):
            for index in reversed(range(len(current))):
                where = f"{path}.{index}" if path else str(index)
                stack.append((where, depth + 1, current[index]))
        elif isinstance(current, str):
            problem = text_problem(current, controls=controls)
            if problem is not None:
                yield path, problem
        elif isinstance(current, float) and not math.isfinite(current):
            yield path, "A number too large to store."


def whole_number(text: str | None) -> int | None:
    """The whole number typed in ``text`` (ASCII digits, at most 18), else ``None``.

    ``str.isdigit`` is true for "²" and "٣", which ``int`` refuses or reads; a page asks for
    plain digits.
    """
    if text is None or not _ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)
