from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from reviewapp.accounts import api as accounts_api
from reviewapp.audit import views as audit_views
from reviewapp.datasets import api as datasets_api
from reviewapp.datasets import views as datasets_views
from reviewapp.reviews import api as reviews_api
from reviewapp.reviews import views as reviews_views
from reviewapp.sla import api as sla_api
from reviewapp.sla import settings_views
from reviewapp.sla import views as sla_views
from workflows import api as workflows_api
from workflows import views as workflows_views

api = [
    path(
        "api/v1/workflows/<slug:slug>/items",
        workflows_api.ItemIngestView.as_view(),
        name="api-item-ingest",
    ),
    path(
        "api/v1/workflows/<slug:slug>/simulate",
        workflows_api.PolicySimulationView.as_view(),
        name="api-policy-simulate",
    ),
    path(
        "api/v1/workflows/<slug:slug>/canaries",
        workflows_api.CanaryView.as_view(),
        name="api-canaries",
    ),
    path(
        "api/v1/workflows/<slug:slug>/canaries/<int:canary_id>/stop",
        workflows_api.CanaryStopView.as_view(),
        name="api-canary-stop",
    ),
    path("api/v1/items/<int:item_id>", workflows_api.ItemDetailView.as_view(), name="api-item"),
    path(
        "api/v1/items/<int:item_id>/retry",
        workflows_api.ItemRetryView.as_view(),
        name="api-item-retry",
    ),
    path(
        "api/v1/items/<int:item_id>/discard",
        workflows_api.ItemDiscardView.as_view(),
        name="api-item-discard",
    ),
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
    path(
        "api/v1/reviewers/<str:username>/profile",
        accounts_api.ReviewerProfileView.as_view(),
        name="api-reviewer-profile",
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
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
]

# Retraining the built-in model from a release (issue 5, item 7).
api += [
    path(
        "api/v1/exports/<int:export_id>/retrain",
        workflows_api.ReleaseRetrainView.as_view(),
        name="api-export-retrain",
    ),
    path(
        "api/v1/training-runs/<int:run_id>",
        workflows_api.TrainingRunView.as_view(),
        name="api-training-run",
    ),
]

pages = [
    path("", RedirectView.as_view(pattern_name="queue-list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queues/", reviews_views.queue_list, name="queue-list"),
    path("queues/<int:queue_id>/next", reviews_views.queue_next, name="queue-next"),
    path("review/<int:task_id>/", reviews_views.review_task, name="review-task"),
    path("review/<int:task_id>/decide", reviews_views.review_decide, name="review-decide"),
    path("review/<int:task_id>/changes", reviews_views.review_changes, name="review-changes"),
    path(
        "workflows/<slug:slug>/simulate", workflows_views.policy_simulator, name="policy-simulator"
    ),
    path("workflows/<slug:slug>/canary", workflows_views.canary_page, name="canary-page"),
    path("items/<int:item_id>/", workflows_views.item_page, name="item-detail"),
    path("dead-letters/", workflows_views.dead_letter_list, name="dead-letter-list"),
    path(
        "dead-letters/<int:item_id>/retry",
        workflows_views.dead_letter_act,
        {"action": "retry"},
        name="dead-letter-retry",
    ),
    path(
        "dead-letters/<int:item_id>/discard",
        workflows_views.dead_letter_act,
        {"action": "discard"},
        name="dead-letter-discard",
    ),
    path(
        "items/<int:item_id>/webhooks/<int:delivery_id>/redeliver",
        workflows_views.item_redeliver,
        name="item-redeliver",
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
        "datasets/<int:export_id>/label-studio/push",
        datasets_views.dataset_label_studio_push,
        name="dataset-label-studio-push",
    ),
    path(
        "datasets/<int:export_id>/label-studio/pull",
        datasets_views.dataset_label_studio_pull,
        name="dataset-label-studio-pull",
    ),
    path("audit/", audit_views.audit_list, name="audit-list"),
    path("admin/", admin.site.urls),
]

# The managers' SLA board and its task actions (issue 4, item 4).
board = [
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
        "board/queues/<int:queue_id>/assign", sla_views.queue_bulk_assign, name="board-queue-assign"
    ),
    path(
        "board/queues/<int:queue_id>/sla-report.csv",
        sla_views.sla_report_csv,
        name="board-sla-report",
    ),
    path("board/tasks/<int:task_id>/assign", sla_views.task_assign, name="board-task-assign"),
    path("board/tasks/<int:task_id>/unassign", sla_views.task_unassign, name="board-task-unassign"),
]

urlpatterns = api + pages + board

# The reviewer's claim controls (issue 4, items 1 and 2): heartbeat/extend and skip.
urlpatterns += [
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
]

# Reviewer quality: four-eyes settings, gold items, per-reviewer figures (issue 4, item 5).
urlpatterns += [path("", include("reviewapp.quality.urls"))]

# Managers' settings pages and the SLA settings API (issue 4: queues and reviewers in the browser).
urlpatterns += [
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
]
