"""The kinds of refusal a service can give, shared by every app.

Services raise these; ``reviewapp.core.api`` turns them into JSON with the right status, and pages
show their messages. Subclasses name the thing refused, so callers can catch narrowly.
"""


class InvalidRequest(Exception):
    """Input the caller can fix: 400, with ``errors`` as ``{field: [message, ...]}``."""

    detail = "The request is not valid."

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(self.detail)
        self.errors = errors


class Conflict(Exception):
    """The object is not in a state that allows this step: 409; the message says why."""


class Forbidden(Exception):
    """This user may not take this step on this object (which they may see): 403."""


class QuotaExceeded(Exception):
    """The team already has as much of this in flight as it may: 429, try again later."""

    retry_after_seconds = 60


class UpstreamFailed(Exception):
    """A server this step depends on refused it or could not be reached: 502."""


def refusal_message(refused: Exception) -> str:
    """One sentence for a page: the field messages of an InvalidRequest, else the message."""
    errors = getattr(refused, "errors", None)
    if errors:
        return " ".join(message for messages in errors.values() for message in messages)
    return str(refused)
