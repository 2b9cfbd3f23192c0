from django.urls import path

from reviewapp.review.reviews import api as reviews_api
from reviewapp.review.reviews import views as reviews_views

urlpatterns = [
    path("api/v1/queues/", reviews_api.QueueListView.as_view(), name="api-queues"),
    path(
        "api/v1/queues/<int:queue_id>/claim",
        reviews_api.QueueClaimView.as_view(),
        name="api-queue-claim",
    ),
    path(
        "api/v1/queues/<int:queue_id>/settings",
        reviews_api.QueueSettingsView.as_view(),
        name="api-queue-settings",
    ),
    path("api/v1/tasks/<int:task_id>", reviews_api.TaskDetailView.as_view(), name="api-task"),
    path(
        "api/v1/tasks/<int:task_id>/decision",
        reviews_api.TaskDecisionView.as_view(),
        name="api-task-decision",
    ),
    path(
        "api/v1/tasks/<int:task_id>/release",
        reviews_api.TaskReleaseView.as_view(),
        name="api-task-release",
    ),
    path("queues/", reviews_views.queue_list, name="queue-list"),
    path("queues/<int:queue_id>/next", reviews_views.queue_next, name="queue-next"),
    path("review/<int:task_id>/", reviews_views.review_task, name="review-task"),
    path("review/<int:task_id>/decide", reviews_views.review_decide, name="review-decide"),
    path("review/<int:task_id>/changes", reviews_views.review_changes, name="review-changes"),
    path(
        "api/v1/tasks/<int:task_id>/extend",
        reviews_api.TaskExtendView.as_view(),
        name="api-task-extend",
    ),
    path(
        "api/v1/tasks/<int:task_id>/skip", reviews_api.TaskSkipView.as_view(), name="api-task-skip"
    ),
    path("review/<int:task_id>/heartbeat", reviews_views.review_heartbeat, name="review-heartbeat"),
    path("review/<int:task_id>/skip", reviews_views.review_skip, name="review-skip"),
    path("review/<int:task_id>/undo", reviews_views.review_undo, name="review-undo"),
    path("my-work/", reviews_views.my_work_page, name="my-work"),
]
