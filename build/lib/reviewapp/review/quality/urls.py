"""Reviewer quality: the managers' API and pages, beside the SLA board."""

from django.urls import path

from reviewapp.review.quality import api, views

urlpatterns = [
    path(
        "api/v1/queues/<int:queue_id>/quality-settings",
        api.QueueQualitySettingsView.as_view(),
        name="api-queue-quality-settings",
    ),
    path(
        "api/v1/queues/<int:queue_id>/gold-items",
        api.QueueGoldItemsView.as_view(),
        name="api-queue-gold-items",
    ),
    path(
        "api/v1/queues/<int:queue_id>/gold-items/<int:gold_id>/retire",
        api.GoldItemRetireView.as_view(),
        name="api-gold-item-retire",
    ),
    path(
        "api/v1/queues/<int:queue_id>/reviewer-quality",
        api.QueueReviewerQualityView.as_view(),
        name="api-queue-reviewer-quality",
    ),
    path("board/queues/<int:queue_id>/quality/", views.queue_quality, name="quality-queue"),
    path(
        "board/queues/<int:queue_id>/quality/settings",
        views.queue_quality_settings,
        name="quality-queue-settings",
    ),
    path("board/queues/<int:queue_id>/gold/", views.gold_items, name="quality-gold"),
    path(
        "board/queues/<int:queue_id>/gold/<int:gold_id>/retire",
        views.gold_item_retire_page,
        name="quality-gold-retire",
    ),
]
