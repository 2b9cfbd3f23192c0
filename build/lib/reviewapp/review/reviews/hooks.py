"""Policies that ride along the review of a task, such as four-eyes pairs and gold items.

The reviews app knows nothing of them: an app registers its hooks when Django starts
(``QualityConfig.ready``), and the claim-and-decide services call them inside their own
transaction:

- ``tasks_opened(tasks=...)`` after review tasks were inserted (to open a four-eyes item's
  second task, or mix in a gold task);
- ``task_decided(task=..., decision=...)`` once a decision row exists, returning the
  ``DecisionEffects`` it has: whether the item resumes now and whether the decision is
  labeled data (a correction to record).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DecisionEffects:
    """What a decision does beyond the task: resume the item, record a Correction."""

    resume: bool = True
    labeled: bool = True


OpenedHook = Callable[..., None]
DecidedHook = Callable[..., DecisionEffects]

_opened: list[OpenedHook] = []
_decided: list[DecidedHook] = []


def review_hooks_register(*, opened: OpenedHook, decided: DecidedHook) -> None:
    if opened not in _opened:
        _opened.append(opened)
    if decided not in _decided:
        _decided.append(decided)


def tasks_opened(*, tasks: list[Any]) -> None:
    for hook in _opened:
        hook(tasks=tasks)


def task_decided(*, task: Any, decision: Any) -> DecisionEffects:
    effects = [hook(task=task, decision=decision) for hook in _decided]
    return DecisionEffects(
        resume=all(effect.resume for effect in effects),
        labeled=all(effect.labeled for effect in effects),
    )
