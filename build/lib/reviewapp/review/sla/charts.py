"""Small server-side SVG charts: a bar chart and a line chart, no JavaScript.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>``
that reads the figures out, so a screen reader gets the numbers, not the shapes; every bar
and point carries its own ``<title>`` as a tooltip. Text is escaped; sizes are in viewBox
units and the chart scales with its container.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 420, 180
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 10, 34
_ids = count(1)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int | float]
    css_class: str = "series-1"


def _nice_max(values: Sequence[int | float]) -> float:
    """A round upper bound for the y axis (1, 2, 5 times a power of ten)."""
    top = max(values, default=0)
    if top <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= top:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= top:
            return step * magnitude
    return 10 * magnitude


def _frame(title: str, desc: str, labels: Sequence[str], y_max: float, body: Sequence[str]) -> str:
    chart_id = f"chart-{next(_ids)}"
    plot_h = HEIGHT - TOP - BOTTOM
    parts: list[str] = [
        format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
            'xmlns="http://www.w3.org/2000/svg">',
            WIDTH,
            HEIGHT,
            chart_id,
            chart_id,
        ),
        format_html(
            '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>', chart_id, title, chart_id, desc
        ),
        format_html(
            '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            LEFT,
            TOP + plot_h,
            WIDTH - RIGHT,
            TOP + plot_h,
        ),
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            format_html(
                '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
                LEFT - 4,
                f"{y + 4:.1f}",
                _number(y_max * fraction),
            )
        )
        if fraction:
            parts.append(
                format_html(
                    '<line class="gridline" x1="{}" y1="{}" x2="{}" y2="{}"/>',
                    LEFT,
                    f"{y:.1f}",
                    WIDTH - RIGHT,
                    f"{y:.1f}",
                )
            )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    # Label every other slot when they crowd (14 days fit in 7 labels), always the latest.
    every = 1 if len(labels) <= 8 else 2
    for index, label in enumerate(labels):
        if (len(labels) - 1 - index) % every == 0:
            parts.append(
                format_html(
                    '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{LEFT + slot * (index + 0.5):.1f}",
                    HEIGHT - BOTTOM + 14,
                    label,
                )
            )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value / 1000:g}k"


def _describe(labels: Sequence[str], series: Sequence[Series]) -> str:
    return "; ".join(
        f"{item.name}: "
        + ", ".join(
            f"{label} {_number(value)}" for label, value in zip(labels, item.values, strict=True)
        )
        for item in series
    )


def bar_chart(*, title: str, labels: Sequence[str], series: Sequence[Series]) -> SafeString:
    """Grouped bars, one group per label, one bar per series."""
    y_max = _nice_max([value for item in series for value in item.values])
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    body: list[str] = []
    for position, item in enumerate(series):
        for index, (label, value) in enumerate(zip(labels, item.values, strict=True)):
            height = plot_h * value / y_max
            x = LEFT + slot * index + slot * 0.1 + bar_w * position
            body.append(
                format_html(
                    '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}">'
                    "<title>{}: {} {}</title></rect>",
                    item.css_class,
                    f"{x:.1f}",
                    f"{TOP + plot_h - height:.1f}",
                    f"{bar_w:.1f}",
                    f"{height:.1f}",
                    label,
                    _number(value),
                    item.name,
                )
            )
    return mark_safe(  # noqa: S308 - every piece above went through format_html
        _frame(title, _describe(labels, series), labels, y_max, body)
    )


def line_chart(*, title: str, labels: Sequence[str], series: Sequence[Series]) -> SafeString:
    """One polyline per series with a marked point per label."""
    y_max = _nice_max([value for item in series for value in item.values])
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body: list[str] = []
    for item in series:
        points = [
            (LEFT + slot * (index + 0.5), TOP + plot_h * (1 - value / y_max))
            for index, value in enumerate(item.values)
        ]
        body.append(
            format_html(
                '<polyline class="line {}" points="{}"/>',
                item.css_class,
                " ".join(f"{x:.1f},{y:.1f}" for x, y in points),
            )
        )
        for (x, y), label, value in zip(points, labels, item.values, strict=True):
            body.append(
                format_html(
                    '<circle class="point {}" cx="{}" cy="{}" r="3">'
                    "<title>{}: {} {}</title></circle>",
                    item.css_class,
                    f"{x:.1f}",
                    f"{y:.1f}",
                    label,
                    _number(value),
                    item.name,
                )
            )
    return mark_safe(  # noqa: S308 - every piece above went through format_html
        _frame(title, _describe(labels, series), labels, y_max, body)
    )


def legend(series: Sequence[Series]) -> SafeString:
    return mark_safe(  # noqa: S308 - format_html escaped each name
        '<ul class="legend">'
        + "".join(
            format_html('<li><span class="swatch {}"></span>{}</li>', item.css_class, item.name)
            for item in series
        )
        + "</ul>"
    )
