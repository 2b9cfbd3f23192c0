from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "reviewapp.review.quality"
    label = "quality"
    verbose_name = "Reviewer quality (four-eyes review, gold items)"
