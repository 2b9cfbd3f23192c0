from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "reviewapp.operations"
    label = "operations"
    verbose_name = "Operations (item tracking, dead letters, configuration, quick start)"
