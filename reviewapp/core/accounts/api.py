"""Managers set a reviewer's skills, languages and capacity cap."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.accounts.inputs import ReviewerProfileInput
from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.core.permissions import get_reviewer_for_user


def _profile(profile: ReviewerProfile) -> dict:
    return {
        "reviewer": profile.user.get_username(),
        "skills": profile.skills,
        "languages": profile.languages,
        "max_claims": profile.max_claims,
    }


class ReviewerProfileOut(serializers.Serializer):
    reviewer = serializers.CharField(help_text="The reviewer's username.")
    skills = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    max_claims = serializers.IntegerField(
        allow_null=True, help_text="Tasks held at once; null: the queue's cap applies."
    )


class ReviewerProfileView(APIView):
    @extend_schema(
        operation_id="reviewer_profile_change",
        request=ReviewerProfileInput,
        responses=ReviewerProfileOut,
    )
    def patch(self, request, username: str):
        # The reviewers page's rule; unknown and foreign people get the same 404.
        user = get_reviewer_for_user(request.user, username)
        values = ReviewerProfileInput.checked(request.data, partial=True)
        profile = reviewer_profile_set(user=user, acting_user=request.user, **values)
        return Response(_profile(profile))
