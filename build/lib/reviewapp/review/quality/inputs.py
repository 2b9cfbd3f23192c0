"""What a manager sends to set a queue's quality settings: one definition for the quality page,
the API and ``queue_quality_set``."""

from reviewapp.core.errors import InvalidRequest
from reviewapp.core.inputs import Input, Number, Reference
from reviewapp.review.reviews.models import Queue


class QualitySettingsInvalid(InvalidRequest):
    detail = "The quality settings are not valid."


class QueueQualityInput(Input):
    """The share of gold tasks mixed into the queue, and the queue where a four-eyes
    disagreement goes (``None``: a third reviewer of the same queue). Checked ``partial``."""

    refusal = QualitySettingsInvalid

    gold_rate = Number(
        minimum=0, maximum=1, message="Give a share between 0 and 1 (0.05 is one task in twenty)."
    )
    senior_queue = Reference(model=Queue, message="Choose a queue you manage.")
