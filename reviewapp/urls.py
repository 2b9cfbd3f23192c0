"""Every URL, stage by stage in the order of the flow; each stage declares its own routes.

Pages live under plain paths (`/queues/`, `/board/`, `/datasets/`, ...) and the API under
`/api/v1/`; the route names are what templates and tests reverse.
"""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from reviewapp.core.accounts.views import AdminSignInForm
from reviewapp.core.api import ApiSchemaView, api_docs
from reviewapp.core.navigation import home

admin.site.login_form = AdminSignInForm
handler404 = "reviewapp.core.api.not_found"


class FaviconRedirect(RedirectView):
    permanent = True

    def get_redirect_url(self, *args, **kwargs) -> str:
        # Asked per request: the hashed file name exists only once the static files are collected.
        return static("img/logo.svg")


urlpatterns = [
    # Each role lands on its own page: managers the board, reviewers their own work.
    path("", home, name="home"),
    path("", include("reviewapp.core.accounts.urls")),
    # sense and decide: the machine side
    path("", include("workflows.ingest.urls")),
    path("", include("workflows.pipeline.urls")),
    # act: people review what the machine was unsure of
    path("", include("reviewapp.review.reviews.urls")),
    path("", include("reviewapp.review.sla.urls")),
    path("", include("reviewapp.review.quality.urls")),
    path("", include("reviewapp.review.approvals.urls")),
    path("", include("reviewapp.review.pairwise.urls")),
    # learn: corrections become datasets and models
    path("", include("reviewapp.learn.datasets.urls")),
    path("", include("reviewapp.learn.training.urls")),
    path("", include("reviewapp.learn.monitoring.urls")),
    # across every stage: items, dead letters, audit
    path("", include("reviewapp.operations.urls")),
    path("api/schema/", ApiSchemaView.as_view(), name="api-schema"),
    # The split view serves its script as a file of its own: no inline script for a CSP to allow.
    path("api/docs/", api_docs, name="api-docs"),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico where a page names no icon (JSON, downloads).
    path("favicon.ico", FaviconRedirect.as_view()),
]
