"""The datasets page: request, approve or reject, watch the build, download."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.core.errors import QuotaExceeded, refusal_message
from reviewapp.core.http import HtmxHttpRequest
from reviewapp.core.permissions import APPROVE_EXPORT, REQUEST_EXPORT
from reviewapp.core.untrusted import whole_number
from reviewapp.learn.datasets.access import exports_for_user, get_export_for_user
from reviewapp.learn.datasets.downloads import export_file_response
from reviewapp.learn.datasets.filters import DECISIONS, DEFAULT_DECISION, SpecInvalid
from reviewapp.learn.datasets.label_studio import (
    LabelStudioPushFailed,
    dataset_release_push_label_studio,
)
from reviewapp.learn.datasets.label_studio_pull import (
    LabelStudioPullConflict,
    dataset_release_pull_label_studio_start,
)
from reviewapp.learn.datasets.models import ExportFormat, ExportStatus
from reviewapp.learn.datasets.selectors import (
    dataset_preview,
    release_details,
    spec_form_choices,
)
from reviewapp.learn.datasets.services import (
    ExportConflict,
    ExportForbidden,
    ExportInvalid,
    dataset_export_approve,
    dataset_export_download,
    dataset_export_reject,
    dataset_export_request,
)
from workflows.access import get_workflow_for_user, workflows_for_user


def _page_context(request: HtmxHttpRequest) -> dict:
    exports = list(exports_for_user(request.user).prefetch_related("approvals")[:100])
    approvable = set(workflows_for_user(request.user, APPROVE_EXPORT).values_list("pk", flat=True))
    workflows = list(workflows_for_user(request.user, REQUEST_EXPORT))
    return {
        "exports": exports,
        # Exports this user may approve or reject: someone else's, on a workflow they approve for.
        "decidable": {
            export.pk
            for export in exports
            if export.requested_by_id != request.user.pk
            and all(a.approver_id != request.user.pk for a in export.approvals.all())
            and export.workflow_id in approvable
        },
        "workflows": workflows,
        "formats": ExportFormat.choices,
        "spec_formats": [ExportFormat.JSONL],
        "decisions": list(DECISIONS.items()),
        "default_decision": DEFAULT_DECISION,
        "choices": spec_form_choices(workflows=workflows),
        # Releases this user may push to Label Studio and pull annotations back from.
        "label_studio": {
            export.pk
            for export in exports
            if settings.LABEL_STUDIO_URL
            and export.status == ExportStatus.READY
            and export.workflow_id in approvable
        },
        "polling": any(
            e.status in ("approved", "building")
            or e.label_studio_pull_status in ("pending", "running")
            for e in exports
        ),
    }


@require_GET
@login_required
def dataset_list(request: HtmxHttpRequest) -> HttpResponse:
    context = _page_context(request)
    template = "datasets/dataset_list.html#rows" if request.htmx else "datasets/dataset_list.html"
    return render(request, template, context)


def _filters_from_form(post) -> dict:
    """The form's fields as a filters object; the spec parser judges the values."""
    filters: dict = {}
    for name in ("created_after", "created_before", "decision"):
        if post.get(name):
            filters[name] = post[name]
    for name in ("queues", "reason_codes"):
        values = [value for value in post.getlist(name) if value]
        if values:
            filters[name] = values
    versions = [v.strip() for v in post.get("workflow_versions", "").split(",") if v.strip()]
    if versions:
        filters["workflow_versions"] = [
            number if (number := whole_number(v)) is not None else v for v in versions
        ]
    if post.get("qa_samples_only"):
        filters["qa_samples_only"] = True
    return filters


@require_POST
@login_required
def dataset_preview_page(request: HtmxHttpRequest) -> HttpResponse:
    """The preview of a spec: a fragment for htmx, the whole page (form kept) without JS."""
    workflow = get_workflow_for_user(request.user, request.POST.get("workflow", ""), REQUEST_EXPORT)
    context: dict = {
        "spec": request.POST,
        "spec_formats": request.POST.getlist("formats"),
        "preview_workflow": workflow,
    }
    status = 200
    try:
        context["preview"] = dataset_preview(
            workflow=workflow, filters=_filters_from_form(request.POST)
        )
    except SpecInvalid as invalid:
        context["preview_errors"] = invalid.errors
        status = 422
    if request.htmx:
        return render(request, "datasets/dataset_list.html#preview", context, status=status)
    return render(
        request, "datasets/dataset_list.html", _page_context(request) | context, status=status
    )


@require_POST
@login_required
def dataset_request(request: HtmxHttpRequest) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, request.POST.get("workflow", ""), REQUEST_EXPORT)
    if not request.POST.getlist("formats") and not request.POST.get("format"):
        messages.error(request, "formats: Choose at least one format.")
        return redirect("dataset-list")
    try:
        export = dataset_export_request(
            workflow=workflow,
            requested_by=request.user,
            # Older forms (and scripts) post one ``format``; the page posts ``formats``.
            export_formats=request.POST.getlist("formats") or None,
            export_format=None if "formats" in request.POST else request.POST.get("format"),
            filters=_filters_from_form(request.POST),
            note=request.POST.get("note", "").strip(),
            include_sensitive=bool(request.POST.get("include_sensitive")),
        )
    except ExportInvalid as invalid:
        for field, problems in invalid.errors.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        return redirect("dataset-list")
    except QuotaExceeded as refused:
        messages.error(request, str(refused))
        return redirect("dataset-list")
    messages.success(
        request,
        f"Export #{export.pk} requested in {len(export.all_formats)} format"
        f"{'s' if len(export.all_formats) > 1 else ''}. A colleague must approve it.",
    )
    return redirect("dataset-list")


@require_POST
@login_required
def dataset_decide(request: HtmxHttpRequest, export_id: int, verdict: str) -> HttpResponse:
    export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
    try:
        if verdict == "approve":
            export = dataset_export_approve(
                export=export,
                approver=request.user,
                allow_sensitive=bool(request.POST.get("allow_sensitive")),
            )
            if export.status == "approved":
                messages.success(
                    request,
                    f"Export #{export.pk} approved as release "
                    f"{export.release_name}; it is being built.",
                )
            else:
                messages.success(
                    request,
                    f"Export #{export.pk}: your approval is recorded; "
                    "a second colleague must approve it too.",
                )
        else:
            dataset_export_reject(
                export=export, approver=request.user, reason=request.POST.get("reason", "")
            )
            messages.success(request, f"Export #{export.pk} rejected.")
    except (ExportForbidden, ExportConflict) as refused:
        messages.error(request, str(refused))
    except ExportInvalid as invalid:
        messages.error(request, refusal_message(invalid))
    return redirect("dataset-list")


@require_GET
@login_required
def dataset_download(request: HtmxHttpRequest, export_id: int) -> HttpResponseBase:
    export = get_export_for_user(request.user, export_id)
    try:
        release_file = dataset_export_download(
            export=export, user=request.user, export_format=request.GET.get("file_format") or None
        )
    except ExportConflict as refused:
        messages.error(request, str(refused))
        return redirect("dataset-list")
    return export_file_response(release_file)


@require_GET
@login_required
def dataset_release(request: HtmxHttpRequest, export_id: int) -> HttpResponse:
    """A built release: manifest, data card, checksums, lineage and what changed since the last."""
    export = get_export_for_user(request.user, export_id)
    return render(request, "datasets/release.html", {"release": release_details(export)})


@require_POST
@login_required
def dataset_label_studio_push(request: HtmxHttpRequest, export_id: int) -> HttpResponse:
    export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
    try:
        if not settings.LABEL_STUDIO_URL:
            raise LabelStudioPushFailed("No Label Studio server is configured.")
        result = dataset_release_push_label_studio(
            export=export,
            acting_user=request.user,
            base_url=settings.LABEL_STUDIO_URL,
            api_key=settings.LABEL_STUDIO_API_KEY,
        )
    except LabelStudioPushFailed as failed:
        messages.error(request, str(failed))
        return redirect("dataset-list")
    messages.success(
        request,
        f"Release {export.release_name} pushed to Label Studio: {result['tasks']} tasks.",
    )
    return redirect("dataset-list")


@require_POST
@login_required
def dataset_label_studio_pull(request: HtmxHttpRequest, export_id: int) -> HttpResponse:
    export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
    try:
        dataset_release_pull_label_studio_start(export=export, acting_user=request.user)
    except LabelStudioPullConflict as refused:
        messages.error(request, str(refused))
        return redirect("dataset-list")
    messages.success(
        request,
        f"Pulling the annotations of release {export.release_name} from Label Studio; "
        "new ones become corrections.",
    )
    return redirect("dataset-list")
