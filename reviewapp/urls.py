"""Every URL, stage by stage in the order of the flow; each stage declares its own routes.

Pages live under plain paths (`/queues/`, `/board/`, `/datasets/`, ...) and the API under
`/api/v1/`; the route names are what templates and tests reverse.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="queue-list"), name="home"),
    path("", include("reviewapp.core.accounts.urls")),
    # sense and decide: the machine side
    path("", include("workflows.ingest.urls")),
    path("", include("workflows.pipeline.urls")),
    # act: people review what the machine was unsure of
    path("", include("reviewapp.review.reviews.urls")),
    path("", include("reviewapp.review.sla.urls")),
    path("", include("reviewapp.review.quality.urls")),
    # learn: corrections become datasets and models
    path("", include("reviewapp.learn.datasets.urls")),
    path("", include("reviewapp.learn.training.urls")),
    path("", include("reviewapp.learn.monitoring.urls")),
    # across every stage: items, dead letters, audit
    path("", include("reviewapp.operations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("admin/", admin.site.urls),
]
