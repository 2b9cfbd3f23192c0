import json
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.views import LoginView
from django.http import HttpResponse, HttpResponseForbidden
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def set_groups(request):
    """The test's hand in the provider's directory: ``{"username": ..., "groups": [...]}``."""
    if request.headers.get("X-Test-Token") != os.environ["OIDC_PROVIDER_CONTROL_TOKEN"]:
        return HttpResponseForbidden()
    body = json.loads(request.body)
    user = get_user_model().objects.get(username=body["username"])
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in body["groups"]])
    return HttpResponse(status=204)


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", LoginView.as_view(template_name="provider_login.html"), name="login"),
    path("test/groups", set_groups),
]
