from django.urls import path

from reviewapp.review.approvals import api

urlpatterns = [
    path("api/v1/approvals", api.ApprovalRequestView.as_view(), name="api-approval-request"),
    path(
        "api/v1/approvals/<int:approval_id>",
        api.ApprovalDetailView.as_view(),
        name="api-approval-detail",
    ),
    path(
        "api/v1/approvals/<int:approval_id>/wait",
        api.ApprovalWaitView.as_view(),
        name="api-approval-wait",
    ),
]
