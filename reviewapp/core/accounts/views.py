"""People's own settings: how pages are shown to them (time zone), their API tokens
(create one, shown once; see when each was last used; revoke), and signing in."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from reviewapp.core.accounts.lockout import (
    signin_failure_record,
    signin_locked,
    signin_success_record,
)
from reviewapp.core.accounts.models import ApiToken, TokenScope
from reviewapp.core.accounts.services import preferences_for, preferences_set
from reviewapp.core.accounts.time_zones import COOKIE, SESSION_KEY, zone_names
from reviewapp.core.accounts.tokens import api_token_create, api_token_revoke
from reviewapp.core.errors import InvalidRequest


@require_http_methods(["GET", "POST"])
@login_required
def preferences_page(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    chosen = preferences_for(request.user).time_zone
    if request.method == "POST":
        chosen = request.POST.get("time_zone", "")
        try:
            preferences_set(user=request.user, time_zone=chosen)
        except ValidationError as error:
            errors = error.message_dict
        else:
            request.session[SESSION_KEY] = chosen.strip()
            messages.success(request, "Your preferences are saved.")
            return redirect("preferences")
    return render(
        request,
        "accounts/preferences.html",
        {
            "zones": zone_names(),
            "chosen": chosen,
            "browser_zone": request.COOKIES.get(COOKIE, ""),
            "errors": errors,
        },
        status=422 if errors else 200,
    )


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


class LockoutFormMixin:
    """Refuses sign-in while the account or the address is locked out, and counts failures."""

    request: HttpRequest | None
    cleaned_data: dict
    error_messages = AuthenticationForm.error_messages | {
        "locked_out": (
            "Too many failed sign-ins for this account or from this address. Sign-in is paused "
            "for %(minutes)s minutes; try again later or ask an administrator."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        if signin_locked(username=username, address=address):
            raise ValidationError(
                self.error_messages["locked_out"],
                code="locked_out",
                params={"minutes": max(1, settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS // 60)},
            )
        try:
            cleaned = super().clean()  # type: ignore[misc]
        except ValidationError:
            signin_failure_record(username=username, address=address)
            raise
        signin_success_record(username=username)
        return cleaned


class SignInForm(LockoutFormMixin, AuthenticationForm):
    pass


class AdminSignInForm(LockoutFormMixin, AdminAuthenticationForm):
    """The admin site's sign-in, under the same lockout (it is another door to passwords)."""


class SignInView(LoginView):
    form_class = SignInForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "locked_out"):
            response.status_code = 429
            response["Retry-After"] = str(settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS)
        return response


def client_address(request) -> str:
    """The caller's address as the server saw it (behind a proxy: set it in REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""
