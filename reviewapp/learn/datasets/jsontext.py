"""The two JSON texts of an export: compact (CSV and Parquet cells, Label Studio tasks) and
jsonb text (JSONL lines, which PostgreSQL builds itself on the fast path)."""

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple


def _encoder(*, item_separator: str, key_separator: str) -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, ensure_ascii=False, separators=...)``, made once.

    ``json.dumps`` builds a new encoder on every call, which costs more than encoding a small
    row; this is the same C encoder ``json.dumps`` uses, built once per process.
    """
    make = getattr(json.encoder, "c_make_encoder", None)  # private, so not in the type stubs
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        encoder = json.JSONEncoder(
            sort_keys=True, ensure_ascii=False, separators=(item_separator, key_separator)
        )
        return encoder.encode

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    iterencode = make(
        None,  # no circular-reference check: values come from JSON, which cannot loop
        default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,
        key_separator,
        item_separator,
        True,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    return lambda value: "".join(iterencode(value, 0))


# Compact: CSV and Parquet cells, Label Studio tasks, the split hash.
compact_json = _encoder(item_separator=",", key_separator=":")
json_string = json.encoder.encode_basestring  # ensure_ascii=False; PostgreSQL escapes the same


def jsonb_key(key: str) -> tuple[int, bytes]:
    """Where jsonb puts an object's key: shortest first, then by UTF-8 bytes."""
    encoded = key.encode()
    return len(encoded), encoded


def _jsonb_number(value: float) -> str:
    # jsonb keeps a number as numeric, which PostgreSQL never prints with an exponent:
    # 1.5e-07 comes back as 0.00000015. repr() is the text json.dumps stored.
    text = format(Decimal(repr(value)), "f")
    return text.removeprefix("-") if value == 0 else text  # numeric has no negative zero


def jsonb_text(value: Any) -> str:
    """``value`` as PostgreSQL prints it as jsonb (``value::jsonb::text``): keys shortest first,
    then by their UTF-8 bytes; ", " and ": " between items; text as is, not escaped to ASCII.

    The JSONL of an export is this text, built by PostgreSQL on the fast path and here on
    SQLite (and for tests); both must give the same bytes.
    """
    if isinstance(value, str):
        return json_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _jsonb_number(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: jsonb_key(item[0]))
        return "{" + ", ".join(f"{json_string(k)}: {jsonb_text(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class Encoded(NamedTuple):
    """A value with its two JSON texts (compact for cells, jsonb text for JSONL), made once."""

    value: Any
    compact: str
    jsonb: str


def encode(value: Any) -> Encoded:
    return Encoded(value, compact_json(value), jsonb_text(value))
