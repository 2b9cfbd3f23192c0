"""Sensitive input fields: redacted or pseudonymised in every row, in Python and in SQL alike."""

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db.models import F, Value

from reviewapp.learn.datasets.jsontext import jsonb_text
from reviewapp.learn.datasets.sqltext import SqlText, sql_text
from workflows.definitions import SENSITIVE_MODES

REDACTED = "[redacted]"


def sensitive_fields(workflow) -> dict[str, str]:
    """``{field: "redact" | "pseudonymise"}`` over every version of the workflow.

    A field marked in any version stays sensitive for all rows: older items were ingested under
    older versions, and unmarking a field later must not leak what was once declared sensitive.
    Where versions disagree, redaction (the stronger treatment) wins.
    """
    fields: dict[str, str] = {}
    for definition in workflow.versions.values_list("definition", flat=True):
        for name, schema in definition["input_schema"].get("properties", {}).items():
            mode = schema.get("x-sensitive") if isinstance(schema, dict) else None
            if mode in SENSITIVE_MODES and fields.get(name) != "redact":
                fields[name] = mode
    return dict(sorted(fields.items()))


def pseudonym(field: str, value: Any) -> str:
    """The same value of the same field always gets the same pseudonym (joins still work).

    The value is taken as its jsonb text, so PostgreSQL computes the same pseudonym on the
    export's fast path (``protected_input_sql``); for text values it is also ``json.dumps``'
    text.
    """
    digest = hmac.new(
        settings.REVIEWAPP_PSEUDONYM_KEY.encode(),
        f"field:{field}:{jsonb_text(value)}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"pseud-{digest[:16]}"


def protect_input(input_value: dict, fields: dict[str, str]) -> dict:
    """``input_value`` itself when there is nothing to protect in it, else a protected copy."""
    if not any(input_value.get(name) is not None for name in fields):
        return input_value
    protected = dict(input_value)
    for name, mode in fields.items():
        if name in protected and protected[name] is not None:
            protected[name] = REDACTED if mode == "redact" else pseudonym(name, protected[name])
    return protected


def _hmac_pads() -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), so that PostgreSQL's built-in
    ``sha256()`` computes ``pseudonym`` without the pgcrypto extension."""
    key = settings.REVIEWAPP_PSEUDONYM_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def hmac_hex16(message: SqlText) -> SqlText:
    """The first 16 hex digits of HMAC-SHA256(REVIEWAPP_PSEUDONYM_KEY, message), in SQL."""
    inner, outer = _hmac_pads()
    return SqlText(
        "left(encode(sha256({} || sha256({} || convert_to({}, 'UTF8'))), 'hex'), 16)",
        SqlText("CAST({} AS bytea)", Value(outer)),
        SqlText("CAST({} AS bytea)", Value(inner)),
        message,
    )


def protected_input_sql(sensitive: dict[str, str]):
    """``protect_input`` in SQL: each sensitive field present and not null is replaced by
    ``REDACTED`` or by its ``pseudonym`` (HMAC-SHA256 from the built-in ``sha256()``)."""
    if not sensitive:
        return F("input")
    replaced = []
    for name, mode in sensitive.items():
        if mode == "redact":
            replacement = sql_text(REDACTED)
        else:
            replacement = SqlText(
                "'pseud-' || {}",
                hmac_hex16(
                    SqlText(
                        "{} || ({} -> {})::text",
                        sql_text(f"field:{name}:"),
                        F("input"),
                        sql_text(name),
                    )
                ),
            )
        replaced += [
            sql_text(name),
            SqlText(
                "CASE WHEN coalesce(jsonb_typeof({} -> {}), 'null') <> 'null' "
                "THEN to_jsonb({}) END",
                F("input"),
                sql_text(name),
                replacement,
            ),
        ]
    # jsonb_strip_nulls drops the fields that were absent or null: they stay as they were.
    built = f"jsonb_strip_nulls(jsonb_build_object({', '.join(['{}'] * len(replaced))}))"
    return SqlText(
        "CASE WHEN jsonb_typeof({}) = 'object' THEN {} || " + built + " ELSE {} END",
        F("input"),
        F("input"),
        *replaced,
        F("input"),
    )
