from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "reviewapp.core.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from reviewapp.core.accounts.signals import preferences_into_session

        user_logged_in.connect(preferences_into_session, dispatch_uid="preferences_into_session")

        from reviewapp.core.accounts.middleware import session_start

        user_logged_in.connect(session_start, dispatch_uid="reviewapp-session-start")
