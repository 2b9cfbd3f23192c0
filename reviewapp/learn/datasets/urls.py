from django.urls import path

from reviewapp.learn.datasets import api as datasets_api
from reviewapp.learn.datasets import views as datasets_views

urlpatterns = [
    path("api/v1/exports/", datasets_api.ExportListView.as_view(), name="api-exports"),
    path(
        "api/v1/exports/preview",
        datasets_api.ExportPreviewView.as_view(),
        name="api-export-preview",
    ),
    path(
        "api/v1/exports/<int:export_id>", datasets_api.ExportDetailView.as_view(), name="api-export"
    ),
    path(
        "api/v1/exports/<int:export_id>/approve",
        datasets_api.ExportApproveView.as_view(),
        name="api-export-approve",
    ),
    path(
        "api/v1/exports/<int:export_id>/reject",
        datasets_api.ExportRejectView.as_view(),
        name="api-export-reject",
    ),
    path(
        "api/v1/exports/<int:export_id>/label-studio",
        datasets_api.ExportLabelStudioView.as_view(),
        name="api-export-label-studio",
    ),
    path(
        "api/v1/exports/<int:export_id>/label-studio/pull",
        datasets_api.ExportLabelStudioPullView.as_view(),
        name="api-export-label-studio-pull",
    ),
    path(
        "api/v1/exports/<int:export_id>/download",
        datasets_api.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path("datasets/", datasets_views.dataset_list, name="dataset-list"),
    path("datasets/request", datasets_views.dataset_request, name="dataset-request"),
    path("datasets/preview", datasets_views.dataset_preview_page, name="dataset-preview"),
    path(
        "datasets/<int:export_id>/approve",
        datasets_views.dataset_decide,
        {"verdict": "approve"},
        name="dataset-approve",
    ),
    path(
        "datasets/<int:export_id>/reject",
        datasets_views.dataset_decide,
        {"verdict": "reject"},
        name="dataset-reject",
    ),
    path(
        "datasets/<int:export_id>/download",
        datasets_views.dataset_download,
        name="dataset-download",
    ),
    path(
        "datasets/releases/<int:export_id>/",
        datasets_views.dataset_release,
        name="dataset-release",
    ),
    path(
        "datasets/<int:export_id>/label-studio/push",
        datasets_views.dataset_label_studio_push,
        name="dataset-label-studio-push",
    ),
    path(
        "datasets/<int:export_id>/label-studio/pull",
        datasets_views.dataset_label_studio_pull,
        name="dataset-label-studio-pull",
    ),
]
