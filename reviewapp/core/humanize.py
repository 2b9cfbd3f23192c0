"""Values rendered for people: JSON as field lists and tables, times in the reader's zone with
UTC on hover, durations in words. Never a Python repr on a page.

The template filters below are built into every template (``TEMPLATES["OPTIONS"]["builtins"]``):
``{{ item.input|readable }}``, ``{{ export.filters|readable_inline }}``, ``{{ event.at|when }}``,
``{{ run.duration_ms|duration:"ms" }}``.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

EMPTY = "—"


def duration_text(span: dt.timedelta) -> str:
    """Two most significant units: "3 d 4 h", "2 h 5 min", "4 min 10 s", "0 s"."""
    seconds = max(int(span.total_seconds()), 0)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    for name, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append(f"{amount} {name}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 s"


_WORD_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def duration_words(span: dt.timedelta) -> str:
    """A duration as a person says it: "2 hours 5 minutes", "4.2 seconds", "35 milliseconds".

    The two most significant units; under a minute with tenths of a second, under a second in
    milliseconds, since pipeline steps and webhook calls are that short."""
    seconds = max(span.total_seconds(), 0.0)
    if seconds < 1:
        milliseconds = seconds * 1000
        if milliseconds < 1:
            return "under 1 millisecond" if milliseconds > 0 else "0 seconds"
        shown = f"{milliseconds:.0f}"
        return f"{shown} millisecond{'' if shown == '1' else 's'}"
    if seconds < 60:
        shown = f"{seconds:.1f}".removesuffix(".0")
        return f"{shown} second{'' if shown == '1' else 's'}"
    whole = int(seconds)
    parts: list[str] = []
    for name, size in _WORD_UNITS:
        amount, whole = divmod(whole, size)
        if amount:
            parts.append(f"{amount} {name}{'' if amount == 1 else 's'}")
        elif parts:
            break
        if len(parts) == 2:
            break
    return " ".join(parts)


def field_label(name: object) -> str:
    """A JSON key as a heading: "created_after" reads "Created after"."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else str(name)


def scalar_text(value: Any) -> str:
    """One JSON-like scalar as text: yes/no for booleans, a dash for nothing, no repr."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        return _local_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_words(value)
    return str(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list | tuple | set | frozenset)


def _is_span(value: Any) -> bool:
    return isinstance(value, dict) and {"start", "end", "label"} <= set(value)


def inline_text(value: Any) -> str:
    """A value on one line: "decision: correct · queues: triage, billing"."""
    if isinstance(value, dict):
        if not value:
            return EMPTY
        if _is_span(value):
            return _span_text(value)
        return " · ".join(f"{field_label(k)}: {inline_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            return EMPTY
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        separator = "; " if any(not _is_scalar(part) for part in items) else ", "
        return separator.join(inline_text(part) for part in items)
    return scalar_text(value)


def _span_text(span: dict) -> str:
    where = f"{span['start']}-{span['end']}"
    if "text" in span:
        return f"{span['label']} “{span['text']}” {where}"
    return f"{span['label']} {where}"


def readable_html(value: Any) -> SafeString:
    """A JSON value as HTML a person reads: objects as field lists, lists of objects as a table
    (one column per key), lists of plain values joined by commas, scalars as text."""
    if isinstance(value, dict):
        if not value:
            return format_html("{}", EMPTY)
        if _is_span(value):
            return format_html("{}", _span_text(value))
        return format_html(
            '<dl class="fields nested">{}</dl>',
            format_html_join(
                "",
                '<dt>{}</dt><dd class="value">{}</dd>',
                ((field_label(k), readable_html(v)) for k, v in value.items()),
            ),
        )
    if isinstance(value, list | tuple | set | frozenset):
        items = list(sorted(value, key=str) if isinstance(value, set | frozenset) else value)
        if not items:
            return format_html("{}", EMPTY)
        if all(_is_scalar(part) or _is_span(part) for part in items):
            return format_html("{}", inline_text(items))
        if all(isinstance(part, dict) for part in items):
            columns = list(dict.fromkeys(key for part in items for key in part))
            head = format_html_join(
                "", '<th scope="col">{}</th>', ((field_label(c),) for c in columns)
            )
            rows = format_html_join(
                "",
                "<tr>{}</tr>",
                (
                    (
                        format_html_join(
                            "", "<td>{}</td>", ((readable_html(part.get(c)),) for c in columns)
                        ),
                    )
                    for part in items
                ),
            )
            return format_html(
                '<table class="grid nested"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
                head,
                rows,
            )
        return format_html(
            '<ol class="nested">{}</ol>',
            format_html_join("", "<li>{}</li>", ((readable_html(part),) for part in items)),
        )
    return format_html("{}", scalar_text(value))


def _local_text(moment: dt.datetime) -> str:
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def when_html(moment: dt.datetime | None, style: str = "full") -> SafeString:
    """A moment in the reader's time zone; the exact UTC time on hover, machine-readable in
    ``datetime``. Styles: "full" (2026-12-05 14:03:07), "minute" (2026-12-05 14:03), "time"
    (14:03:07), "clock" (14:03), "short" (Dec 5, 14:03)."""
    if moment is None:
        return format_html("{}", EMPTY)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    local = timezone.localtime(moment)
    utc = moment.astimezone(dt.UTC)
    formats = {
        "full": "%Y-%m-%d %H:%M:%S",
        "minute": "%Y-%m-%d %H:%M",
        "time": "%H:%M:%S",
        "clock": "%H:%M",
        "short": "%b %-d, %H:%M",
    }
    shown = local.strftime(formats.get(style, formats["full"]))
    zone = local.tzname() or ""
    return format_html(
        '<time datetime="{}" title="{} UTC">{}{}</time>',
        utc.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        shown,
        f" {zone}" if zone and style != "short" else "",
    )


def _as_timedelta(value: Any, unit: str) -> dt.timedelta | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.timedelta):
        return value
    factors = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0}
    try:
        return dt.timedelta(seconds=float(value) * factors.get(unit, 1.0))
    except (TypeError, ValueError):
        return None


@register.filter(name="readable")
def readable_filter(value: Any) -> SafeString:
    return readable_html(value)


@register.filter(name="readable_inline")
def readable_inline_filter(value: Any) -> str:
    return inline_text(value)


@register.filter(name="when")
def when_filter(value: dt.datetime | None, style: str = "full") -> SafeString:
    return when_html(value, style)


@register.filter(name="duration")
def duration_filter(value: Any, unit: str = "s") -> str:
    """``{{ span|duration }}`` for a timedelta or seconds, ``{{ x|duration:"ms" }}`` for
    milliseconds, ``"us"`` for microseconds."""
    span = _as_timedelta(value, unit)
    return EMPTY if span is None else duration_words(span)
