from django.apps import AppConfig


class CorrectionsConfig(AppConfig):
    name = "reviewapp.review.corrections"
    label = "corrections"
