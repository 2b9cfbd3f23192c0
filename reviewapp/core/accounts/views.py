"""The signed-in person's own settings page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reviewapp.core.accounts.services import preferences_for, preferences_set
from reviewapp.core.accounts.time_zones import COOKIE, SESSION_KEY, zone_names


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
