from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "reviewapp.review.sla"
    label = "sla"
    verbose_name = "SLA and escalation"
