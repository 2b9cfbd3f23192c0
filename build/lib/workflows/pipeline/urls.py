from django.urls import path

from workflows.pipeline import api as pipeline_api
from workflows.pipeline import views as pipeline_views

urlpatterns = [
    path(
        "api/v1/workflows/<slug:slug>/simulate",
        pipeline_api.PolicySimulationView.as_view(),
        name="api-policy-simulate",
    ),
    path(
        "workflows/<slug:slug>/simulate", pipeline_views.policy_simulator, name="policy-simulator"
    ),
]
