from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviewapp.review.reviews"
    label = "reviews"

    def ready(self) -> None:
        from reviewapp.core.accounts.hooks import access_lost_register
        from reviewapp.review.reviews import seam
        from reviewapp.review.reviews.claims import review_tasks_release_lost_access
        from workflows.seams import review_stage_register

        review_stage_register(seam)
        # Someone who loses a role or a skill (at an SSO sign-in) gives back what they held.
        access_lost_register("reviews.release-claims", review_tasks_release_lost_access)
