"""People's own settings: how pages are shown to them (time zone), their API tokens
(create one, shown once; see when each was last used; revoke), their second factor, and signing
in (password, then a code for those who enrolled one)."""

import time
from base64 import b32encode
from datetime import timedelta
from ipaddress import ip_address

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from reviewapp.core.accounts.lockout import (
    signin_failure_record,
    signin_locked,
    signin_success_record,
)
from reviewapp.core.accounts.models import ApiToken, TokenScope
from reviewapp.core.accounts.services import preferences_for, preferences_set
from reviewapp.core.accounts.time_zones import COOKIE, SESSION_KEY, zone_names
from reviewapp.core.accounts.tokens import api_token_create, api_token_revoke
from reviewapp.core.accounts.two_factor import (
    WRONG_CODE,
    CodeRefused,
    two_factor_device,
    two_factor_disable,
    two_factor_enrolment_confirm,
    two_factor_enrolment_start,
    two_factor_required,
    two_factor_verify,
)
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
    """Refuses sign-in while the account or the address is locked out, and counts failures.

    With ``SSO_ONLY`` a right password signs in only break-glass administrators; for anyone
    else it is refused (and counted, so the form cannot be used to test passwords)."""

    request: HttpRequest | None
    cleaned_data: dict
    error_messages = AuthenticationForm.error_messages | {
        "locked_out": (
            "Too many failed sign-ins for this account or from this address. Sign-in is paused "
            "for %(minutes)s minutes; try again later or ask an administrator."
        ),
        "sso_only": (
            "Password sign-in is turned off: sign in with single sign-on. Only break-glass "
            "administrators may use a password here."
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
            if settings.SSO_ONLY and not is_break_glass(self.get_user()):  # type: ignore[attr-defined]
                raise ValidationError(self.error_messages["sso_only"], code="sso_only")
        except ValidationError:
            signin_failure_record(username=username, address=address)
            raise
        signin_success_record(username=username)
        return cleaned


def is_break_glass(user) -> bool:
    """Who may still sign in with a password when ``SSO_ONLY`` is on."""
    return bool(
        user is not None
        and (user.is_superuser or user.get_username() in settings.SSO_BREAK_GLASS_USERS)
    )


class SignInForm(LockoutFormMixin, AuthenticationForm):
    pass


class AdminSignInForm(LockoutFormMixin, AdminAuthenticationForm):
    """The admin site's sign-in, under the same lockout (it is another door to passwords).

    It has no step for a code: accounts with a second factor sign in on the main page."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if two_factor_device(user) is not None:
            raise ValidationError(
                "This account signs in with a code: use the main sign-in page.",
                code="two_factor",
            )


# The password was right and a code is awaited: who, through which backend, where to go next.
PENDING = "signin_pending_code"
PENDING_SECONDS = 300


class SignInView(LoginView):
    form_class = SignInForm

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {
            "sso": bool(settings.SSO_ISSUER),
            "sso_label": settings.SSO_BUTTON_LABEL,
            "sso_only": settings.SSO_ONLY,
        }

    def form_valid(self, form):
        user = form.get_user()
        if two_factor_device(user) is None:
            return super().form_valid(form)
        # Nobody is signed in until the code is right: the session only remembers who asked.
        self.request.session[PENDING] = {
            "user": user.pk,
            "backend": user.backend,
            "next": self.get_success_url(),
            "since": time.time(),
        }
        return redirect("login-code")

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "locked_out"):
            response.status_code = 429
            response["Retry-After"] = str(settings.REVIEWAPP_SIGNIN_LOCKOUT_SECONDS)
        return response


@require_http_methods(["GET", "POST"])
def sign_in_code(request: HttpRequest) -> HttpResponse:
    """The second step of a password sign-in: the code from the person's authenticator app."""
    pending: dict = request.session.get(PENDING) or {}
    user = None
    if isinstance(pending, dict) and time.time() - pending.get("since", 0) < PENDING_SECONDS:
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        request.session.pop(PENDING, None)
        messages.error(request, "Sign in with your password first (a code waits five minutes).")
        return redirect("login")
    error = ""
    if request.method == "POST":
        address = client_address(request)
        username = user.get_username()
        if signin_locked(username=username, address=address):
            error = "Too many failed sign-ins for this account or from this address; try later."
        else:
            device = two_factor_verify(user=user, code=request.POST.get("code", ""))
            if device is not None:
                signin_success_record(username=username)
                del request.session[PENDING]
                login(request, user, backend=pending["backend"])
                otp_login(request, device)
                return redirect(pending["next"])
            signin_failure_record(username=username, address=address)
            error = WRONG_CODE
    return render(request, "registration/code.html", {"error": error}, status=422 if error else 200)


@require_http_methods(["GET", "POST"])
@login_required
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app (QR code or the secret typed in), or turn it off."""
    user = request.user
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            if request.POST.get("action") == "disable":
                two_factor_disable(user=user, code=request.POST.get("code", ""))
                messages.success(request, "Sign-in no longer asks for a code.")
            else:
                device = two_factor_enrolment_confirm(user=user, code=request.POST.get("code", ""))
                # This session proved the code just now: it counts as signed in with it.
                otp_login(request, device)
                messages.success(
                    request, "Done: from now on sign-in asks for a code from your app."
                )
            return redirect("two-factor")
        except CodeRefused as refused:
            errors = refused.errors
    device = two_factor_device(user)
    context: dict = {"device": device, "errors": errors, "required": two_factor_required(user)}
    if device is None:
        pending = two_factor_enrolment_start(user=user)
        context["secret"] = _grouped(b32encode(pending.bin_key).decode())
        # segno draws the QR code from our own otpauth URL: SVG shapes only, no script or style.
        context["qr_svg"] = mark_safe(  # noqa: S308
            segno.make(pending.config_url, error="m").svg_inline(
                scale=4, dark="#000", light="#fff", border=2
            )
        )
    return render(request, "accounts/two_factor.html", context, status=422 if errors else 200)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def client_address(request) -> str:
    """The caller's address. Behind proxies listed in ``REVIEWAPP_TRUSTED_PROXIES`` it is the
    last address in ``X-Forwarded-For`` that is not one of them (each proxy appends the address
    it saw; what comes before a trusted proxy's entry is whatever the client claimed)."""
    if request is None:
        return ""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = settings.REVIEWAPP_TRUSTED_PROXIES
    if not networks or not _within(remote, networks):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _within(hop, networks):
            return hop if _is_address(hop) else remote
    return remote


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _within(text: str, networks) -> bool:
    try:
        address = ip_address(text)
    except ValueError:
        return False
    return any(address in network for network in networks)
