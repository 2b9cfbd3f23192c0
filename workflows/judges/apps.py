from django.apps import AppConfig


class JudgesConfig(AppConfig):
    name = "workflows.judges"
    label = "judges"
    verbose_name = "LLM judges (scores per rubric item, agreement with reviewers, trust)"
