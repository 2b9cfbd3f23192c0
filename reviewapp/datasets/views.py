"""The datasets page: request, approve or reject, watch the build, download."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from reviewapp.datasets.models import ExportFormat
from reviewapp.datasets.services import (
    ExportConflict,
    ExportForbidden,
    ExportInvalid,
    dataset_export_approve,
    dataset_export_download,
    dataset_export_reject,
    dataset_export_request,
)
from reviewapp.http import HtmxHttpRequest
from reviewapp.permissions import (
    APPROVE_EXPORT,
    REQUEST_EXPORT,
    exports_for_user,
    get_export_for_user,
    get_workflow_for_user,
    user_can,
    workflows_for_user,
)


@require_GET
@login_required
def dataset_list(request: HtmxHttpRequest) -> HttpResponse:
    exports = list(exports_for_user(request.user)[:100])
    context = {
        "exports": exports,
        # Exports this user may approve or reject: someone else's, on a workflow they approve for.
        "decidable": {
            export.pk
            for export in exports
            if export.requested_by_id != request.user.pk
            and user_can(request.user, APPROVE_EXPORT, export.workflow)
        },
        "workflows": workflows_for_user(request.user, REQUEST_EXPORT),
        "formats": ExportFormat.choices,
        "polling": any(e.status in ("approved", "building") for e in exports),
    }
    template = "datasets/dataset_list.html#rows" if request.htmx else "datasets/dataset_list.html"
    return render(request, template, context)


@require_POST
@login_required
def dataset_request(request: HtmxHttpRequest) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, request.POST.get("workflow", ""),
                                     REQUEST_EXPORT)
    filters = {
        name: request.POST[name]
        for name in ("created_after", "created_before")
        if request.POST.get(name)
    }
    try:
        export = dataset_export_request(
            workflow=workflow,
            requested_by=request.user,
            export_format=request.POST.get("format", ExportFormat.JSONL),
            filters=filters,
            note=request.POST.get("note", "").strip(),
        )
    except ExportInvalid as invalid:
        for field, problems in invalid.errors.items():
            messages.error(request, f"{field}: {' '.join(problems)}")
        return redirect("dataset-list")
    messages.success(request, f"Export #{export.pk} requested. A colleague must approve it.")
    return redirect("dataset-list")


@require_POST
@login_required
def dataset_decide(request: HtmxHttpRequest, export_id: int, verdict: str) -> HttpResponse:
    export = get_export_for_user(request.user, export_id, APPROVE_EXPORT)
    try:
        if verdict == "approve":
            dataset_export_approve(export=export, approver=request.user)
            messages.success(request, f"Export #{export.pk} approved; it is being built.")
        else:
            dataset_export_reject(export=export, approver=request.user,
                                  reason=request.POST.get("reason", ""))
            messages.success(request, f"Export #{export.pk} rejected.")
    except (ExportForbidden, ExportConflict) as refused:
        messages.error(request, str(refused))
    except ExportInvalid as invalid:
        messages.error(request, " ".join(" ".join(v) for v in invalid.errors.values()))
    return redirect("dataset-list")


@require_GET
@login_required
def dataset_download(request: HtmxHttpRequest, export_id: int) -> HttpResponseBase:
    export = get_export_for_user(request.user, export_id)
    try:
        path = dataset_export_download(export=export, user=request.user)
    except ExportConflict as refused:
        messages.error(request, str(refused))
        return redirect("dataset-list")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
