from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "reviewapp.corrections"
    label = "corrections"
