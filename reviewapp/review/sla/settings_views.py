"""Managers' settings pages: a queue's claim order, SLA policy, calendars and escalation ladder,
and the reviewers of their teams.

Every form's text is read by the input the API checks too (the stage's ``inputs.py``), and goes
to the service the API uses. A refused form comes back with status 422, the field messages
beside the fields and what was typed kept; an accepted one redirects (without JS) or swaps its
section in place (htmx). Pages need the manage permission on the queue, or a
manager role for the reviewers page; anyone else gets 404.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core.accounts.inputs import ReviewerProfileInput
from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.core.errors import Conflict, InvalidRequest
from reviewapp.core.http import HtmxHttpRequest
from reviewapp.core.permissions import (
    MANAGE_QUEUE,
    get_reviewer_for_user,
    manages_a_team,
    reviewers_managed_by,
)
from reviewapp.review.reviews.access import get_queue_for_user, queue_managers, queues_for_user
from reviewapp.review.reviews.inputs import QueueClaimSettingsInput
from reviewapp.review.reviews.models import Queue, ReviewTask, TaskStatus
from reviewapp.review.reviews.queues import queue_claim_settings_set
from reviewapp.review.sla.access import calendars_for_user, get_calendar_for_user
from reviewapp.review.sla.calendar import WEEKDAYS
from reviewapp.review.sla.configuration import (
    business_calendar_save,
    escalation_step_add,
    escalation_step_remove,
    sla_policy_set,
)
from reviewapp.review.sla.inputs import CalendarInput, EscalationStepInput, SlaPolicyInput
from reviewapp.review.sla.models import (
    BusinessCalendar,
    EscalationAction,
    EscalationStep,
    EscalationTrigger,
    SlaPolicy,
)

TEMPLATE = "settings/queue_settings.html"
WEIGHTS = ("urgency_weight", "priority_weight", "uncertainty_weight")
CLAIM_TEXT_FIELDS = ("language_field", "notify_webhook_url", "notify_webhook_secret_env")


def _ranges_text(ranges: list) -> str:
    return ", ".join(f"{start}-{end}" for start, end in ranges)


def _comparable(name: str, value: Any) -> Any:
    if name == "required_skills":
        return sorted({tag.lower() for tag in value})
    return value


def _posted(request: HtmxHttpRequest, names) -> dict[str, str]:
    return {name: request.POST.get(name, "").strip() for name in names}


# --- the queue settings page ---------------------------------------------------------------------


def _claims_form(queue: Queue) -> dict[str, str]:
    form = {name: f"{getattr(queue, name):g}" for name in (*WEIGHTS, "review_hourly_cost")}
    form |= {name: getattr(queue, name) for name in CLAIM_TEXT_FIELDS}
    form["required_skills"] = ", ".join(queue.required_skills)
    cap = queue.max_claims_per_reviewer
    form["max_claims_per_reviewer"] = "" if cap is None else str(cap)
    return form


def _sla_form(policy: SlaPolicy | None) -> dict[str, str]:
    if policy is None:
        return {"target_minutes": "", "warn_at_percent": "80", "calendar": ""}
    return {
        "target_minutes": str(policy.target_minutes),
        "warn_at_percent": str(policy.warn_at_percent),
        "calendar": str(policy.calendar_id or ""),
    }


def _calendar_form(calendar: BusinessCalendar | None) -> dict[str, str]:
    if calendar is None:
        form = {"calendar": "", "name": "", "time_zone": "UTC", "holidays": ""}
        return form | {f"hours_{day}": "" for day in WEEKDAYS}
    form = {
        "calendar": str(calendar.pk),
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "holidays": ", ".join(calendar.holidays),
    }
    return form | {
        f"hours_{day}": _ranges_text(calendar.working_hours.get(day, [])) for day in WEEKDAYS
    }


STEP_FIELDS = ("trigger", "after_minutes", "action", "priority_boost", "target_queue", "recipient")


def _step_form() -> dict[str, str]:
    return {
        "trigger": EscalationTrigger.BREACH,
        "after_minutes": "",
        "action": EscalationAction.NOTIFY_TEAM_LEAD,
        "priority_boost": "",
        "target_queue": "",
        "recipient": "",
    }


def _section(
    form: dict[str, str], errors: dict | None = None, notice: str = "", *, groups=()
) -> dict:
    """One form's state. Messages about a field, or about a group of fields shown together
    (``groups``: the week of working hours), go beside it; any other above the form."""
    errors = errors or {}
    placed = set(form) | set(groups)
    return {
        "form": form,
        "errors": {name: errors[name] for name in errors if name in placed},
        "other_errors": [m for name in errors if name not in placed for m in errors[name]],
        "notice": notice,
    }


def _policy(queue: Queue) -> SlaPolicy | None:
    return SlaPolicy.objects.filter(queue=queue).select_related("calendar").first()


def _edited_calendar(request: HtmxHttpRequest, policy: SlaPolicy | None):
    """The calendar the calendar form edits: ``?calendar=<id>``, ``?calendar=new``, else the
    queue's own."""
    chosen = request.GET.get("calendar", "")
    if chosen == "new":
        return None
    if chosen.isdigit():
        return get_calendar_for_user(request.user, int(chosen))
    return policy.calendar if policy is not None else None


def _context(request: HtmxHttpRequest, queue: Queue, **sections) -> dict:
    policy = _policy(queue)
    context: dict[str, Any] = {
        "queue": queue,
        "policy": policy,
        "calendars": calendars_for_user(request.user),
        "weekdays": WEEKDAYS,
        "steps": EscalationStep.objects.filter(queue=queue)
        .select_related("target_queue", "recipient")
        .annotate(fired=Count("escalations"))
        .order_by("position"),
        "triggers": EscalationTrigger.choices,
        "actions": EscalationAction.choices,
        "target_queues": queues_for_user(request.user, MANAGE_QUEUE)
        .filter(workflow_id=queue.workflow_id)
        .exclude(pk=queue.pk)
        .order_by("name"),
        "recipients": queue_managers(queue),
    }
    defaults = {
        "claims": lambda: _section(_claims_form(queue)),
        "sla": lambda: _section(_sla_form(policy)),
        "calendar": lambda: _section(_calendar_form(_edited_calendar(request, policy))),
        "ladder": lambda: _section(_step_form()),
    }
    for name, default in defaults.items():
        context[name] = sections.get(name) or default()
    return context


def _answer(
    request: HtmxHttpRequest,
    queue: Queue,
    part: str,
    section: dict,
    *,
    status: int = 200,
    success: str = "",
) -> HttpResponse:
    """Refused: the page (or, for htmx, the section) with status 422. Saved: the section with
    its notice for htmx, else a redirect to the page with a message (so a reload posts nothing).
    """
    if success and not request.htmx:
        messages.success(request, success)
        return redirect(reverse("queue-settings", args=[queue.pk]) + f"#{part}")
    context = _context(request, queue, **{part: section})
    template = f"{TEMPLATE}#{part}" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@login_required
def queue_settings(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    return render(request, TEMPLATE, _context(request, queue))


@require_POST
@login_required
def queue_settings_claims(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    form = _posted(request, _claims_form(queue))
    parsed = QueueClaimSettingsInput.from_form(form)
    # Only what changed goes to the service: the audit event then says what the manager did,
    # and unchanged weights do not re-score the queue's open tasks.
    changes = {
        name: value
        for name, value in parsed.items()
        if _comparable(name, value) != _comparable(name, getattr(queue, name))
    }
    if not changes:
        return _answer(request, queue, "claims", _section(form, notice="Nothing changed."))
    try:
        queue_claim_settings_set(queue=queue, acting_user=request.user, changes=changes)
    except InvalidRequest as refused:
        return _answer(request, queue, "claims", _section(form, refused.errors), status=422)
    queue.refresh_from_db()
    return _answer(
        request,
        queue,
        "claims",
        _section(_claims_form(queue), notice="Claim settings saved."),
        success="Claim settings saved.",
    )


@require_POST
@login_required
def queue_settings_sla(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    form = _posted(request, ("target_minutes", "warn_at_percent", "calendar"))
    try:
        values = SlaPolicyInput.checked(
            SlaPolicyInput.from_form(form), calendar=calendars_for_user(request.user)
        )
        policy = sla_policy_set(queue=queue, acting_user=request.user, **values)
    except InvalidRequest as refused:
        return _answer(request, queue, "sla", _section(form, refused.errors), status=422)
    return _answer(
        request,
        queue,
        "sla",
        _section(_sla_form(policy), notice="SLA policy saved."),
        success="SLA policy saved; tasks opened from now on get the new deadline.",
    )


@require_POST
@login_required
def queue_settings_calendar(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    form = _posted(request, _calendar_form(None))
    calendar = None
    if form["calendar"]:
        if not form["calendar"].isdigit():
            raise Http404("No such calendar.")
        calendar = get_calendar_for_user(request.user, int(form["calendar"]))
    try:
        values = CalendarInput.checked(CalendarInput.from_form(form))
        calendar = business_calendar_save(calendar=calendar, acting_user=request.user, **values)
    except InvalidRequest as refused:
        # "working_hours.mon" is the field the manager knows as the Monday box.
        errors = {
            (f"hours_{name.split('.')[1]}" if name.startswith("working_hours.") else name): value
            for name, value in refused.errors.items()
        }
        section = _section(form, errors, groups=["working_hours"])
        return _answer(request, queue, "calendar", section, status=422)
    message = f"Calendar {calendar.name!r} saved; choose it in the SLA policy to use it here."
    if request.htmx:
        return _answer(
            request, queue, "calendar", _section(_calendar_form(calendar), notice=message)
        )
    messages.success(request, message)
    return redirect(
        reverse("queue-settings", args=[queue.pk]) + f"?calendar={calendar.pk}#calendar"
    )


@require_POST
@login_required
def queue_settings_step_add(request: HtmxHttpRequest, queue_id: int) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    form = _posted(request, STEP_FIELDS)
    try:
        values = EscalationStepInput.checked(
            EscalationStepInput.from_form(form),
            target_queue=queues_for_user(request.user, MANAGE_QUEUE),
            recipient=queue_managers(queue),
        )
        escalation_step_add(queue=queue, acting_user=request.user, **values)
    except InvalidRequest as refused:
        return _answer(request, queue, "ladder", _section(form, refused.errors), status=422)
    return _answer(
        request,
        queue,
        "ladder",
        _section(_step_form(), notice="Escalation step added."),
        success="Escalation step added.",
    )


@require_POST
@login_required
def queue_settings_step_remove(
    request: HtmxHttpRequest, queue_id: int, step_id: int
) -> HttpResponse:
    queue = get_queue_for_user(request.user, queue_id, MANAGE_QUEUE)
    step = EscalationStep.objects.filter(queue=queue, pk=step_id).first()
    if step is None:
        raise Http404("No such escalation step.")
    try:
        escalation_step_remove(step=step, acting_user=request.user)
    except Conflict as refused:
        section = _section(_step_form(), {"step": [str(refused)]})
        if not request.htmx:
            messages.error(request, str(refused))
            return redirect(reverse("queue-settings", args=[queue.pk]) + "#ladder")
        return _answer(request, queue, "ladder", section, status=409)
    return _answer(
        request,
        queue,
        "ladder",
        _section(_step_form(), notice=f"Step {step.position} removed."),
        success=f"Step {step.position} removed.",
    )


# --- the team reviewers page ---------------------------------------------------------------------


def _reviewer_rows(request: HtmxHttpRequest, edited: str = "", section: dict | None = None):
    now = timezone.now()
    # Live claims only, as the caps count them: an expired lease is anyone's to take.
    held = (
        ReviewTask.objects.filter(
            claimed_by=OuterRef("pk"), status=TaskStatus.CLAIMED, lease_expires_at__gt=now
        )
        .order_by()
        .values("claimed_by")
        .annotate(n=Count("pk"))
        .values("n")
    )
    reviewers = reviewers_managed_by(request.user).annotate(claims_held=Subquery(held))
    profiles = {
        profile.user_id: profile
        for profile in ReviewerProfile.objects.filter(user__in=[r.pk for r in reviewers])
    }
    rows = []
    for reviewer in reviewers:
        profile = profiles.get(reviewer.pk) or ReviewerProfile(user=reviewer)
        if reviewer.get_username() == edited and section is not None:
            state = section
        else:
            state = _section(
                {
                    "skills": ", ".join(profile.skills),
                    "languages": ", ".join(profile.languages),
                    "max_claims": "" if profile.max_claims is None else str(profile.max_claims),
                }
            )
        rows.append(
            {
                "reviewer": reviewer,
                "profile": profile,
                "claims_held": reviewer.claims_held or 0,
                **state,
            }
        )
    return rows


@require_GET
@login_required
def team_reviewers(request: HtmxHttpRequest) -> HttpResponse:
    if not manages_a_team(request.user):
        raise Http404("You manage no team.")
    return render(request, "settings/team_reviewers.html", {"rows": _reviewer_rows(request)})


@require_POST
@login_required
def team_reviewer_profile(request: HtmxHttpRequest, username: str) -> HttpResponse:
    reviewer = get_reviewer_for_user(request.user, username)
    form = _posted(request, ("skills", "languages", "max_claims"))
    section: dict | None
    try:
        values = ReviewerProfileInput.checked(ReviewerProfileInput.from_form(form), partial=True)
        reviewer_profile_set(user=reviewer, acting_user=request.user, **values)
    except InvalidRequest as refused:
        section = _section(form, refused.errors)
        status = 422
    else:
        notice = f"Profile of {username} saved."
        if not request.htmx:
            messages.success(request, notice)
            return redirect("team-reviewers")
        section, status = None, 200
    rows = _reviewer_rows(request, edited=username, section=section)
    if request.htmx:
        (row,) = [row for row in rows if row["reviewer"].pk == reviewer.pk]
        if section is None:
            row["notice"] = notice
        return render(request, "settings/team_reviewers.html#row", {"row": row}, status=status)
    return render(request, "settings/team_reviewers.html", {"rows": rows}, status=status)
