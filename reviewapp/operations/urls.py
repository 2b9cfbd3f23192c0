from django.urls import path

from reviewapp.operations import api as operations_api
from reviewapp.operations import views as operations_views

urlpatterns = [
    path("operations/stalls", operations_views.stall_banner, name="stall-banner"),
    path("audit/", operations_views.audit_list, name="audit-list"),
    path("audit/export.csv", operations_views.audit_export, {"fmt": "csv"}, name="audit-csv"),
    path("audit/export.jsonl", operations_views.audit_export, {"fmt": "jsonl"}, name="audit-jsonl"),
    path("api/v1/items/<int:item_id>", operations_api.ItemDetailView.as_view(), name="api-item"),
    path(
        "api/v1/items/<int:item_id>/retry",
        operations_api.ItemRetryView.as_view(),
        name="api-item-retry",
    ),
    path(
        "api/v1/items/<int:item_id>/discard",
        operations_api.ItemDiscardView.as_view(),
        name="api-item-discard",
    ),
    path("items/<int:item_id>/", operations_views.item_page, name="item-detail"),
    path("dead-letters/", operations_views.dead_letter_list, name="dead-letter-list"),
    path(
        "dead-letters/<int:item_id>/retry",
        operations_views.dead_letter_act,
        {"action": "retry"},
        name="dead-letter-retry",
    ),
    path(
        "dead-letters/<int:item_id>/discard",
        operations_views.dead_letter_act,
        {"action": "discard"},
        name="dead-letter-discard",
    ),
    path(
        "items/<int:item_id>/webhooks/<int:delivery_id>/redeliver",
        operations_views.item_redeliver,
        name="item-redeliver",
    ),
]
