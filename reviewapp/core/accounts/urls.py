from django.contrib.auth import views as auth_views
from django.urls import path

from reviewapp.core.accounts import api as accounts_api
from reviewapp.core.accounts import team_views
from reviewapp.core.accounts import views as accounts_views
from reviewapp.core.accounts.sso import views as sso_views

urlpatterns = [
    path(
        "api/v1/reviewers/<str:username>/profile",
        accounts_api.ReviewerProfileView.as_view(),
        name="api-reviewer-profile",
    ),
    path("teams/", team_views.team_list, name="team-list"),
    path("teams/<slug:team_slug>/members/", team_views.team_members_page, name="team-members"),
    path("accounts/preferences/", accounts_views.preferences_page, name="preferences"),
    path("account/tokens/", accounts_views.token_list, name="token-list"),
    path("account/tokens/<int:token_id>/revoke", accounts_views.token_revoke, name="token-revoke"),
    path("account/two-factor/", accounts_views.two_factor_page, name="two-factor"),
    path("accounts/login/", accounts_views.SignInView.as_view(), name="login"),
    path("accounts/login/code/", accounts_views.sign_in_code, name="login-code"),
    path("accounts/sso/", sso_views.SsoStartView.as_view(), name="sso-start"),
    path("accounts/sso/callback/", sso_views.SsoCallbackView.as_view(), name="sso-callback"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
