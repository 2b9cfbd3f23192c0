from reviewapp.core.accounts.models import Preferences
from reviewapp.core.accounts.time_zones import SESSION_KEY


def preferences_into_session(sender, request, user, **kwargs) -> None:
    """Copy the saved time zone into the new session, so pages need no query to find it."""
    if request is None or not hasattr(request, "session"):
        return
    saved = Preferences.objects.filter(user=user).values_list("time_zone", flat=True).first()
    if saved:
        request.session[SESSION_KEY] = saved
    else:
        request.session.pop(SESSION_KEY, None)
