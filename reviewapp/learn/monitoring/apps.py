from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "reviewapp.learn.monitoring"
    label = "monitoring"
