"""The colour of a state's badge, decided in one place for every page.

Normal states (open, claimed, decided, running, ready, rejected by a person...) are neutral grey:
they are the work going as it should. Amber is for what is about to go wrong or waits on a
person (at risk, half-open breaker, a four-eyes disagreement), red only for trouble (breached,
failed, dead-lettered, gave up). Templates write ``<span class="{{ task.status|badge }}">``.
"""

from django import template

register = template.Library()

TROUBLE = frozenset(
    {
        "breached",
        "dead_lettered",
        "drifted",
        "fail",
        "failed",
        "gave_up",
        "late",
        "silent",
    }
)
WARNING = frozenset({"at_risk", "disagreed", "half_open", "rolled_back", "warn"})
# The same word means trouble for some things only: an open task is normal work, an open
# circuit breaker fails every call.
TROUBLE_BY_KIND = {"breaker": frozenset({"open"})}


def badge_tone(state: object, kind: str = "") -> str:
    """``neutral``, ``warning`` or ``trouble`` for a state's value (a TextChoices value or a
    word such as ``at_risk``); ``kind`` names the thing when the word alone is ambiguous."""
    value = str(state).lower().replace("-", "_")
    if value in TROUBLE or value in TROUBLE_BY_KIND.get(kind, ()):
        return "trouble"
    if value in WARNING:
        return "warning"
    return "neutral"


@register.filter
def badge(state: object, kind: str = "") -> str:
    """The class attribute of a state's badge: ``badge badge-neutral`` and so on."""
    return f"badge badge-{badge_tone(state, kind)}"
