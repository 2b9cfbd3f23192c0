from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "reviewapp.core.outbox"
    label = "outbox"
    verbose_name = "Events waiting for the message bus"
