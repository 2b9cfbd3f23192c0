from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "reviewapp.core.audit"
    label = "audit"
