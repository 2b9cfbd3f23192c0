from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviewapp.review.reviews"
    label = "reviews"

    def ready(self) -> None:
        from reviewapp.review.reviews import seam
        from workflows.seams import review_stage_register

        review_stage_register(seam)
