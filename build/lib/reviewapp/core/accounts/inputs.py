"""What a manager sends to change a reviewer's profile: one definition for the team reviewers
page, the API and ``reviewer_profile_set``."""

from reviewapp.core.errors import InvalidRequest
from reviewapp.core.inputs import Cap, Input, Tags


class ProfileInvalid(InvalidRequest):
    detail = "The reviewer profile is not valid."


class ReviewerProfileInput(Input):
    """Skills, languages and a cap on open claims. Checked ``partial``: what is left out keeps
    its value."""

    refusal = ProfileInvalid
    unknown_field = "Not a field of the profile."

    skills = Tags(what="skills")
    languages = Tags(what="languages")
    max_claims = Cap()
