from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from reviewapp.core.humanize import duration_words, inline_text, readable_html, when_html

MOMENT = datetime(2026, 3, 2, 9, 30, 5, tzinfo=UTC)


def render(source, **context):
    return Template(source).render(Context(context))


@pytest.mark.parametrize(
    "seconds,words",
    [
        (0, "0 seconds"),
        (0.0004, "under 1 millisecond"),
        (0.0012, "1 millisecond"),
        (0.035, "35 milliseconds"),
        (1, "1 second"),
        (4.25, "4.2 seconds"),
        (59.96, "60 seconds"),
        (61, "1 minute 1 second"),
        (3 * 3600 + 5 * 60 + 7, "3 hours 5 minutes"),
        (2 * 86400 + 30, "2 days"),
        (-5, "0 seconds"),
    ],
)
def test_durations_read_as_words(seconds, words):
    assert duration_words(timedelta(seconds=seconds)) == words


def test_the_duration_filter_takes_milliseconds_microseconds_and_nothing():
    assert render('{{ v|duration:"ms" }}', v=1500.0) == "1.5 seconds"
    assert render('{{ v|duration:"us" }}', v=250_000) == "250 milliseconds"
    assert render("{{ v|duration }}", v=timedelta(minutes=2)) == "2 minutes"
    assert render('{{ v|duration:"ms" }}', v=None) == "—"


def test_an_object_becomes_a_field_list_and_a_list_of_objects_a_table():
    html = readable_html({"subject": "Refund <now>", "tags": ["a", "b"], "paid": True})
    assert html == (
        '<dl class="fields nested"><dt>Subject</dt><dd class="value">Refund &lt;now&gt;</dd>'
        '<dt>Tags</dt><dd class="value">a, b</dd><dt>Paid</dt><dd class="value">yes</dd></dl>'
    )
    table = readable_html([{"name": "x", "score": 0.5}, {"name": "y"}])
    assert '<th scope="col">Name</th><th scope="col">Score</th>' in table
    assert "<td>y</td><td>—</td>" in table


def test_spans_nested_values_and_odd_scalars_never_show_a_repr():
    spans = [{"label": "PER", "start": 0, "end": 5, "text": "Alice"}]
    assert readable_html(spans) == "PER “Alice” 0-5"
    value = {"when": MOMENT, "amount": Decimal("12.50"), "nested": {"a": [1, {"b": None}]}}
    html = readable_html(value)
    for repr_start in ("{'", "['", "datetime.", "Decimal("):
        assert repr_start not in html
    assert "12.5" in html and "2026-03-02 09:30:05" in html


def test_filters_on_one_line_read_as_labelled_values():
    assert inline_text({"decision": "correct", "queues": ["triage", "billing"]}) == (
        "Decision: correct · Queues: triage, billing"
    )
    assert inline_text({}) == "—" and inline_text([]) == "—"
    assert render("{{ f|readable_inline }}", f={"decision": "correct"}) == "Decision: correct"


def test_a_moment_shows_in_the_active_zone_with_utc_on_hover():
    with timezone.override(ZoneInfo("Europe/Berlin")):
        html = when_html(MOMENT)
    assert html == (
        '<time datetime="2026-03-02T09:30:05+00:00" title="2026-03-02 09:30:05 UTC">'
        "2026-03-02 10:30:05 CET</time>"
    )
    with timezone.override(ZoneInfo("America/New_York")):
        assert ">Mar 2, 04:30</time>" in render('{{ m|when:"short" }}', m=MOMENT)
    assert render("{{ m|when }}", m=None) == "—"
