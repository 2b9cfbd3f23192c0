from django.urls import path

from reviewapp.learn.monitoring import views as monitoring_views

urlpatterns = [
    path(
        "workflows/<slug:slug>/monitoring",
        monitoring_views.monitoring_page,
        name="monitoring-page",
    ),
    path(
        "workflows/<slug:slug>/monitoring/costs.csv",
        monitoring_views.costs_csv,
        name="monitoring-costs-csv",
    ),
]
