from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "reviewapp.core.health"
    label = "health"
    verbose_name = "Health of the background processes"
