from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviewapp.review.reviews"
    label = "reviews"
