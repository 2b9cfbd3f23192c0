"""The SLA stage's refusals, shared by its settings, its clock and their callers."""

from reviewapp.core.errors import Conflict, InvalidRequest


class SlaInvalid(InvalidRequest):
    """A calendar, policy, ladder step or pause that makes no sense."""

    detail = "The SLA settings are not valid."


class SlaConflict(Conflict):
    """The task is not in a state where its clock can change that way."""
