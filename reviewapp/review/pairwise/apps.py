from django.apps import AppConfig


class PairwiseConfig(AppConfig):
    name = "reviewapp.review.pairwise"
    label = "pairwise"
    verbose_name = "Pairwise review (two model versions, one input, a person picks the better)"
