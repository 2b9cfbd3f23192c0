from celery import shared_task

from reviewapp.review.reviews.claims import review_tasks_release_expired


@shared_task(name="reviews.release_expired_claims")
def release_expired_claims() -> int:
    return review_tasks_release_expired()
