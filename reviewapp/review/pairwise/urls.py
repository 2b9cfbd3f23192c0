from django.urls import path

from reviewapp.review.pairwise import api as pairwise_api
from reviewapp.review.pairwise import views as pairwise_views

urlpatterns = [
    path(
        "api/v1/pairwise/tasks/<int:task_id>",
        pairwise_api.ComparisonView.as_view(),
        name="api-pairwise-task",
    ),
    path(
        "api/v1/pairwise/tasks/<int:task_id>/decision",
        pairwise_api.ComparisonDecisionView.as_view(),
        name="api-pairwise-decision",
    ),
    path(
        "api/v1/workflows/<slug:slug>/pairwise",
        pairwise_api.WinRatesView.as_view(),
        name="api-pairwise-win-rates",
    ),
    path("pairwise/<int:task_id>/", pairwise_views.comparison_page, name="pairwise-task"),
    path(
        "pairwise/<int:task_id>/decide",
        pairwise_views.comparison_decide_view,
        name="pairwise-decide",
    ),
    path("pairwise/<int:task_id>/skip", pairwise_views.comparison_skip, name="pairwise-skip"),
    path(
        "workflows/<slug:slug>/pairwise/", pairwise_views.pairwise_results, name="pairwise-results"
    ),
]
