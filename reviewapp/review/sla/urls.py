from django.urls import path

from reviewapp.review.sla import api as sla_api
from reviewapp.review.sla import inbox_views, settings_views
from reviewapp.review.sla import views as sla_views

urlpatterns = [
    path(
        "api/v1/tasks/<int:task_id>/assign",
        sla_api.TaskAssignView.as_view(),
        name="api-task-assign",
    ),
    path(
        "api/v1/tasks/<int:task_id>/unassign",
        sla_api.TaskUnassignView.as_view(),
        name="api-task-unassign",
    ),
    path(
        "api/v1/queues/<int:queue_id>/assign",
        sla_api.QueueBulkAssignView.as_view(),
        name="api-queue-assign",
    ),
    path("board/", sla_views.board, name="board"),
    path("board/queues/<int:queue_id>/", sla_views.board_queue, name="board-queue"),
    path(
        "board/queues/<int:queue_id>/reviewers/",
        sla_views.board_queue_reviewers,
        name="board-queue-reviewers",
    ),
    path(
        "board/queues/<int:queue_id>/assign", sla_views.queue_bulk_assign, name="board-queue-assign"
    ),
    path("board/queues/<int:queue_id>/bulk", sla_views.queue_bulk_preview, name="board-queue-bulk"),
    path(
        "board/queues/<int:queue_id>/bulk/apply",
        sla_views.queue_bulk_apply,
        name="board-queue-bulk-apply",
    ),
    path(
        "board/queues/<int:queue_id>/sla-report.csv",
        sla_views.sla_report_csv,
        name="board-sla-report",
    ),
    path("board/tasks/<int:task_id>/assign", sla_views.task_assign, name="board-task-assign"),
    path("board/tasks/<int:task_id>/unassign", sla_views.task_unassign, name="board-task-unassign"),
    path(
        "api/v1/queues/<int:queue_id>/sla-policy",
        sla_api.QueueSlaPolicyView.as_view(),
        name="api-queue-sla-policy",
    ),
    path(
        "api/v1/queues/<int:queue_id>/escalation-steps",
        sla_api.QueueEscalationStepsView.as_view(),
        name="api-queue-escalation-steps",
    ),
    path(
        "api/v1/queues/<int:queue_id>/escalation-steps/<int:step_id>",
        sla_api.QueueEscalationStepView.as_view(),
        name="api-queue-escalation-step",
    ),
    path("api/v1/calendars/", sla_api.CalendarListView.as_view(), name="api-calendars"),
    path(
        "api/v1/calendars/<int:calendar_id>",
        sla_api.CalendarDetailView.as_view(),
        name="api-calendar",
    ),
    path(
        "board/queues/<int:queue_id>/settings/",
        settings_views.queue_settings,
        name="queue-settings",
    ),
    path(
        "board/queues/<int:queue_id>/settings/claims",
        settings_views.queue_settings_claims,
        name="queue-settings-claims",
    ),
    path(
        "board/queues/<int:queue_id>/settings/sla",
        settings_views.queue_settings_sla,
        name="queue-settings-sla",
    ),
    path(
        "board/queues/<int:queue_id>/settings/calendar",
        settings_views.queue_settings_calendar,
        name="queue-settings-calendar",
    ),
    path(
        "board/queues/<int:queue_id>/settings/escalations",
        settings_views.queue_settings_step_add,
        name="queue-settings-step-add",
    ),
    path(
        "board/queues/<int:queue_id>/settings/escalations/<int:step_id>/remove",
        settings_views.queue_settings_step_remove,
        name="queue-settings-step-remove",
    ),
    path("board/reviewers/", settings_views.team_reviewers, name="team-reviewers"),
    path(
        "board/reviewers/<str:username>/profile",
        settings_views.team_reviewer_profile,
        name="team-reviewer-profile",
    ),
    path("notifications/", inbox_views.notification_list, name="notification-list"),
    path("notifications/bell", inbox_views.notification_bell, name="notification-bell"),
    path("notifications/read", inbox_views.notification_read_all, name="notification-read-all"),
    path(
        "notifications/<int:notification_id>/read",
        inbox_views.notification_read,
        name="notification-read",
    ),
]
