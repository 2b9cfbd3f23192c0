from django.urls import path

from reviewapp.learn.training import api as training_api
from reviewapp.learn.training import views as training_views

urlpatterns = [
    path(
        "api/v1/workflows/<slug:slug>/canaries",
        training_api.CanaryView.as_view(),
        name="api-canaries",
    ),
    path(
        "api/v1/workflows/<slug:slug>/canaries/<int:canary_id>/stop",
        training_api.CanaryStopView.as_view(),
        name="api-canary-stop",
    ),
    path(
        "api/v1/exports/<int:export_id>/retrain",
        training_api.ReleaseRetrainView.as_view(),
        name="api-export-retrain",
    ),
    path(
        "api/v1/training-runs/<int:run_id>",
        training_api.TrainingRunView.as_view(),
        name="api-training-run",
    ),
    path(
        "api/v1/models/<int:model_id>/shares",
        training_api.ModelShareView.as_view(),
        name="api-model-shares",
    ),
    path("workflows/<slug:slug>/canary", training_views.canary_page, name="canary-page"),
]
