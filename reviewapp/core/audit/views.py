from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from reviewapp.core.audit.selectors import events_for_chains
from reviewapp.core.audit.services import SYSTEM_CHAIN, audit_verify
from reviewapp.core.permissions import workflows_for_user


@require_GET
@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    """Events of the workflows the user may see; the system chain only for superusers."""
    chains = [workflow.audit_chain for workflow in workflows_for_user(request.user)]
    if request.user.is_superuser:
        chains.append(SYSTEM_CHAIN)
    report = audit_verify(chains) if request.GET.get("verify") else None
    return render(
        request,
        "audit/audit_list.html",
        {"events": events_for_chains(chains), "report": report, "chains": chains},
    )
