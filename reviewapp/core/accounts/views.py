"""People's own API tokens: create one (shown once), see when each was last used, revoke."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from reviewapp.core.accounts.models import ApiToken, TokenScope
from reviewapp.core.accounts.tokens import api_token_create, api_token_revoke
from reviewapp.core.errors import InvalidRequest


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    created = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        days = request.POST.get("expires_in_days", "").strip()
        try:
            if days and not (days.isdigit() and 0 < int(days) <= 3650):
                raise InvalidRequest({"expires_at": ["Give a number of days from 1 to 3650."]})
            _, created = api_token_create(
                user=request.user,
                name=request.POST.get("name", ""),
                scopes=request.POST.getlist("scopes"),
                expires_at=timezone.now() + timedelta(days=int(days)) if days else None,
                acting_user=request.user,
            )
        except InvalidRequest as refused:
            errors = refused.errors
    return render(
        request,
        "accounts/tokens.html",
        {
            "tokens": request.user.api_tokens.all(),  # type: ignore[union-attr]
            "scopes": TokenScope.choices,
            "created": created,
            "errors": errors,
            "now": timezone.now(),
        },
        status=422 if errors else 200,
    )


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user_id=request.user.pk)
    api_token_revoke(token=token, acting_user=request.user)
    messages.success(request, f"The token {token.name!r} no longer works.")
    return redirect("token-list")
