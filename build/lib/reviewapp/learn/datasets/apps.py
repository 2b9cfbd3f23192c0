from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "reviewapp.learn.datasets"
    label = "datasets"
