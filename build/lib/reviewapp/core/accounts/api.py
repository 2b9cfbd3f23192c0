"""Managers set a reviewer's skills, languages and capacity cap."""

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reviewapp.core.accounts.inputs import ReviewerProfileInput
from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.services import reviewer_profile_set


def _profile(profile: ReviewerProfile) -> dict:
    return {
        "reviewer": profile.user.get_username(),
        "skills": profile.skills,
        "languages": profile.languages,
        "max_claims": profile.max_claims,
    }


class ReviewerProfileView(APIView):
    @extend_schema(
        operation_id="reviewer_profile_change", request=ReviewerProfileInput, responses=dict
    )
    def patch(self, request, username: str):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise Http404
        values = ReviewerProfileInput.checked(request.data, partial=True)
        profile = reviewer_profile_set(user=user, acting_user=request.user, **values)
        return Response(_profile(profile))
