from django.urls import path

from workflows.ingest import api as ingest_api

urlpatterns = [
    path(
        "api/v1/workflows/<slug:slug>/items",
        ingest_api.ItemIngestView.as_view(),
        name="api-item-ingest",
    ),
]
