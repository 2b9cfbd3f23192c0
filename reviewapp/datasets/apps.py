from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "reviewapp.datasets"
    label = "datasets"
