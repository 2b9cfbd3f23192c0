"""The managers' drill-down of one queue: its live tasks, sorted, filtered, searched, in pages.

Pages are keyset pages: each sort is a row of values ending in the task's id, stored in one of
the ``task_live_*_idx`` indexes, and a page is "the next 50 after this row" (``(k1, k2, id) >
(v1, v2, v3)``), never an OFFSET, so the thousandth page costs what the first does and a task
that opens or goes meanwhile never shifts a page by one.

Search looks in the subject copied onto the task when it opened (``ReviewTask.subject``), never
in the items, and costs a bounded amount whether the words are rare or in every subject. The
planner cannot tell which (it guesses a few hundred matches for any ``LIKE '%words%'``), and its
two plans each fail one way: the trigram index (task_live_subject_trgm_idx) read all 1,000,000
tasks and sorted them for "ticket" (14 s); walking the sort's index and checking each row reads
every task for a word no task has. So a search page is found in two steps (``_first``): first
the next ``SEARCH_WINDOW`` tasks in the page's order are checked row by row (a range of the
sort's index, compared through ``LOWER`` so that the trigram index, which holds ``UPPER``, is
not chosen); only if they hold fewer matches than a page, the rest comes from the trigram index,
where matches are then known to be sparse. Three characters at least: a trigram index cannot
serve fewer.
"""

import base64
import binascii
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import BooleanField, F, Func, QuerySet, Subquery, Value
from django.db.models.functions import Lower
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviewapp.core.untrusted import shown, whole_number
from reviewapp.review.reviews.models import (
    LIVE_STATUSES,
    NO_DEADLINE,
    Queue,
    ReviewTask,
    TaskStatus,
    due_or_last,
)
from reviewapp.review.sla.board import DRILL_DOWN_STATES

PAGE_SIZE = 50
MIN_SEARCH = 3
MAX_SEARCH = 100
SEARCH_WINDOW = 5000  # tasks checked in order before the trigram index is asked
SLACK = 1e-9  # floating-point noise in a confidence, far below a shown percent


@dataclass(frozen=True)
class Sort:
    label: str
    keys: tuple[Any, ...]  # ascending; the last is the id, so the order is total


# Each is the order of one index (reviewapp/review/reviews/models.py), ties oldest first.
SORTS = {
    "urgency": Sort("Due soonest", (due_or_last(), F("created_at"), F("id"))),
    "age": Sort("Oldest first", (F("created_at"), F("id"))),
    "priority": Sort("Highest priority", (-F("priority"), F("created_at"), F("id"))),
    "confidence": Sort("Least confident", (-F("uncertainty"), F("created_at"), F("id"))),
}
DEFAULT_SORT = "urgency"


class ListingInvalid(ValueError):
    """A parameter of the drill-down's address that it cannot use; the message says which."""


class RowCompare(Func):
    """``(a, b, id) > (x, y, z)``: one comparison PostgreSQL answers as a range of the index."""

    output_field = BooleanField()

    def __init__(self, keys: tuple[Any, ...], values: list[Any], *, operator: str):
        if operator not in (">", "<", ">=", "<="):
            raise ValueError(operator)
        self.width = len(keys)
        self.operator = operator
        super().__init__(*keys, *(Value(value) for value in values))

    def as_sql(self, compiler, connection, *args, **extra_context):  # type: ignore[override]
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, more = compiler.compile(expression)
            parts.append(sql)
            params.extend(more)
        left, right = ", ".join(parts[: self.width]), ", ".join(parts[self.width :])
        return f"({left}) {self.operator} ({right})", params


@dataclass(frozen=True)
class TaskListing:
    """What the manager asked the drill-down for: every part is a GET parameter."""

    sort: str = DEFAULT_SORT
    state: str = ""
    holder_id: int | None = None
    label: str = ""
    confidence_min: int | None = None  # percent
    confidence_max: int | None = None
    search: str = ""
    after: tuple | None = None  # the sort key of the row the page starts after
    before: tuple | None = None  # ... or ends before ("Previous")

    def params(self, **changes) -> dict[str, str]:
        """The filter and sort as GET parameters (without the page), for links and forms."""
        listing = replace(self, **changes)
        values = {
            "sort": "" if listing.sort == DEFAULT_SORT else listing.sort,
            "state": listing.state,
            "reviewer": "" if listing.holder_id is None else str(listing.holder_id),
            "label": listing.label,
            "confidence_min": _text(listing.confidence_min),
            "confidence_max": _text(listing.confidence_max),
            "q": listing.search,
        }
        return {key: value for key, value in values.items() if value}

    @property
    def filtered(self) -> bool:
        return bool(set(self.params()) - {"sort"})

    def query(self, **changes) -> str:
        return urlencode(self.params(**changes))


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _percent(query: QueryDict, name: str, label: str) -> int | None:
    text = query.get(name, "").strip()
    if not text:
        return None
    value = whole_number(text)
    if value is None or value > 100:
        raise ListingInvalid(
            f"{label} takes a whole percentage from 0 to 100, not “{shown(text)}”."
        )
    return value


def cursor_encode(sort: str, key: tuple) -> str:
    values = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    raw = json.dumps([sort, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


STALE_PAGE = "This page link is out of date or was changed; start again from the first page."


def cursor_decode(sort: str, text: str) -> tuple:
    """The key a cursor of ``sort`` holds; a cursor of another sort or an edited one is refused."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor_sort, values = json.loads(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise ListingInvalid(STALE_PAGE) from None
    keys = SORTS[sort].keys
    if cursor_sort != sort or not isinstance(values, list) or len(values) != len(keys):
        raise ListingInvalid(STALE_PAGE)
    decoded: list[Any] = []
    for value, template in zip(values, _key_types(sort), strict=True):
        if template is datetime:
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None or timezone.is_naive(moment):
                raise ListingInvalid(STALE_PAGE)
            decoded.append(moment)
        elif template is int and type(value) is int:
            decoded.append(value)
        elif template is float and type(value) in (int, float):
            decoded.append(float(value))
        else:
            raise ListingInvalid(STALE_PAGE)
    return tuple(decoded)


def _key_types(sort: str) -> tuple[type, ...]:
    return {
        "urgency": (datetime, datetime, int),
        "age": (datetime, int),
        "priority": (int, datetime, int),
        "confidence": (float, datetime, int),
    }[sort]


def listing_from_query(query: QueryDict) -> TaskListing:
    """The drill-down's GET parameters, checked; ``ListingInvalid`` says what is wrong."""
    sort = query.get("sort", "") or DEFAULT_SORT
    if sort not in SORTS:
        raise ListingInvalid(f"Sort by one of: {', '.join(s.label for s in SORTS.values())}.")
    state = query.get("state", "")
    if state and state not in DRILL_DOWN_STATES:
        raise ListingInvalid(f"“{shown(state)}” is not a state the list can show.")
    holder_text = query.get("reviewer", "")
    holder_id = whole_number(holder_text) if holder_text else None
    if holder_text and holder_id is None:
        raise ListingInvalid("Choose the holder from the list.")
    low = _percent(query, "confidence_min", "Lowest confidence")
    high = _percent(query, "confidence_max", "Highest confidence")
    if low is not None and high is not None and low > high:
        raise ListingInvalid("The lowest confidence is above the highest.")
    search = " ".join(query.get("q", "").split())
    if search and len(search) < MIN_SEARCH:
        raise ListingInvalid(f"Search for at least {MIN_SEARCH} characters.")
    if len(search) > MAX_SEARCH:
        raise ListingInvalid(f"Search for at most {MAX_SEARCH} characters.")
    label = query.get("label", "").strip()
    if len(label) > 100:
        raise ListingInvalid("That predicted label is longer than any label.")
    after, before = query.get("after", ""), query.get("before", "")
    if after and before:
        raise ListingInvalid(STALE_PAGE)
    return TaskListing(
        sort=sort,
        state=state,
        holder_id=holder_id,
        label=label,
        confidence_min=low,
        confidence_max=high,
        search=search,
        after=cursor_decode(sort, after) if after else None,
        before=cursor_decode(sort, before) if before else None,
    )


def tasks_matching(queue: Queue, listing: TaskListing) -> QuerySet[ReviewTask]:
    """The queue's live tasks that pass the listing's filters and search (in no order)."""
    tasks = tasks_filtered(queue, listing)
    if listing.search:
        tasks = tasks.filter(subject__icontains=listing.search)
    return tasks


def tasks_filtered(queue: Queue, listing: TaskListing) -> QuerySet[ReviewTask]:
    """The queue's live tasks that pass the listing's filters, before any search."""
    tasks = ReviewTask.objects.filter(queue=queue, status__in=LIVE_STATUSES)
    if listing.state == "open":
        tasks = tasks.filter(status=TaskStatus.OPEN)
    elif listing.state == "claimed":
        tasks = tasks.filter(status=TaskStatus.CLAIMED)
    elif listing.state == "at_risk":
        tasks = tasks.filter(at_risk_at__isnull=False, breached_at__isnull=True)
    elif listing.state == "breached":
        tasks = tasks.filter(breached_at__isnull=False)
    if listing.holder_id is not None:
        # Only a claim has a holder (an open task's is cleared).
        tasks = tasks.filter(status=TaskStatus.CLAIMED, claimed_by_id=listing.holder_id)
    if listing.label:
        tasks = tasks.filter(predicted_label=listing.label)
    # Confidence is 1 - uncertainty, the column the claim already keeps (and an index sorts).
    # The bounds count as the page shows them: 0.6000000000000001 is 60 %.
    if listing.confidence_min is not None:
        tasks = tasks.filter(uncertainty__lte=1.0 - listing.confidence_min / 100 + SLACK)
    if listing.confidence_max is not None:
        tasks = tasks.filter(uncertainty__gte=1.0 - listing.confidence_max / 100 - SLACK)
    return tasks


KEY_FIELDS = ("id", "due_at", "created_at", "priority", "uncertainty")


def _first(
    tasks: QuerySet[ReviewTask], listing: TaskListing, limit: int, *, backwards: bool = False
) -> list[ReviewTask]:
    """The first ``limit`` of ``tasks`` (filtered, after the cursor) in the listing's order
    that match its search, in at most three bounded queries (see the module's docstring)."""

    def shown(queryset):
        return (
            _ordered(queryset, listing.sort, backwards=backwards)
            .select_related("claimed_by")
            .annotate(confidence=F("item__prediction__confidence"))
        )

    if not listing.search:
        return list(shown(tasks)[:limit])
    edge = _ordered(tasks, listing.sort, backwards=backwards).only(*KEY_FIELDS)[
        SEARCH_WINDOW - 1 : SEARCH_WINDOW
    ]
    near = tasks.alias(subject_lower=Lower("subject")).filter(
        subject_lower__contains=listing.search.lower()
    )
    last = next(iter(edge), None)
    if last is None:  # fewer tasks than the window: checking each is the bounded way
        return list(shown(near)[:limit])
    bound = list(task_key(last, listing.sort))
    window = key_range(near, listing.sort, bound, ">=" if backwards else "<=")
    found = list(shown(window)[:limit])
    if len(found) == limit:
        return found
    beyond = key_range(
        tasks.filter(subject__icontains=listing.search),
        listing.sort,
        bound,
        "<" if backwards else ">",
    )
    # Sorted narrow, joined after: only the rows shown meet their holder and prediction.
    first = _ordered(beyond, listing.sort, backwards=backwards).values("pk")[: limit - len(found)]
    return found + list(shown(ReviewTask.objects.filter(pk__in=Subquery(first))))


def key_range(
    tasks: QuerySet[ReviewTask], sort: str, values: list, operator: str
) -> QuerySet[ReviewTask]:
    """The tasks whose sort key is beyond (or up to) ``values``: one row comparison that the
    sort's index answers as a range, and the same bound on the first key alone, which the
    planner can estimate (it guesses a row comparison matches a third of the table, and then
    would rather read the whole table than a range of 5,000 rows)."""
    keys = SORTS[sort].keys
    first = {">": "gte", ">=": "gte", "<": "lte", "<=": "lte"}[operator]
    return (
        tasks.filter(RowCompare(keys, values, operator=operator))
        .alias(first_key=keys[0])
        .filter(**{f"first_key__{first}": values[0]})
    )


def _ordered(tasks: QuerySet[ReviewTask], sort: str, *, backwards: bool = False):
    keys = SORTS[sort].keys
    return tasks.order_by(*(key.desc() if backwards else key.asc() for key in keys))


def task_key(task: ReviewTask, sort: str) -> tuple:
    return {
        "urgency": lambda: (task.due_at or NO_DEADLINE, task.created_at, task.pk),
        "age": lambda: (task.created_at, task.pk),
        "priority": lambda: (-task.priority, task.created_at, task.pk),
        "confidence": lambda: (-task.uncertainty, task.created_at, task.pk),
    }[sort]()


@dataclass
class TaskRow:
    task: ReviewTask
    age: timedelta
    confidence: float | None


@dataclass
class TaskPage:
    rows: list[TaskRow] = field(default_factory=list)
    next_cursor: str = ""
    previous_cursor: str = ""


def task_page(*, queue: Queue, listing: TaskListing, size: int | None = None) -> TaskPage:
    """One page of the drill-down in one query: the tasks, their holders and their predictions'
    confidence (a left join for the rows shown only; the items' inputs are not read)."""
    size = size or PAGE_SIZE
    tasks = tasks_filtered(queue, listing)
    backwards = listing.before is not None
    if listing.after is not None:
        tasks = key_range(tasks, listing.sort, list(listing.after), ">")
    elif listing.before is not None:
        tasks = key_range(tasks, listing.sort, list(listing.before), "<")
    found = _first(tasks, listing, size + 1, backwards=backwards)
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
    now = timezone.now()
    page = TaskPage(
        rows=[
            TaskRow(task=task, age=now - task.created_at, confidence=task.confidence)  # type: ignore[attr-defined]
            for task in found
        ]
    )
    if found:
        first, last = task_key(found[0], listing.sort), task_key(found[-1], listing.sort)
        # Going forward there is a page before whenever this one started after a row; going
        # back, one more row beyond the page says the same.
        if (backwards and more) or listing.after is not None:
            page.previous_cursor = cursor_encode(listing.sort, first)
        if (not backwards and more) or backwards:
            page.next_cursor = cursor_encode(listing.sort, last)
    return page


def task_ids_matching(*, queue: Queue, listing: TaskListing, limit: int) -> tuple[list[int], bool]:
    """Up to ``limit`` ids of the tasks matching the listing, in its order (from the first
    page on), and whether more match: "select all matching" takes these and says so."""
    ids = [task.pk for task in _first(tasks_filtered(queue, listing), listing, limit + 1)]
    return ids[:limit], len(ids) > limit
