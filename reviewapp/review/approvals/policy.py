"""An approval workflow's policy, from the ``approval`` part of its definition (policy as code).

    approval:
      deadline_seconds: 900        # how long a person has, unless the request asks for less
      max_deadline_seconds: 86400  # the most a request may ask for
      on_deadline: deny            # deny (the default: fail closed) | approve | escalate
      four_eyes_risk: [high, critical]   # two different reviewers must agree

With ``escalate`` the review tasks breach at the deadline (the queue's escalation ladder moves
them on: a backup approver, a manager) and the approval gets a second window of the same length;
when that one passes too, it is denied.
"""

from dataclasses import dataclass

from reviewapp.review.approvals.models import DeadlinePolicy, RiskLevel

# The proposed action, as the item's input; an approval workflow's input schema must accept it.
APPROVAL_INPUT_SCHEMA = {
    "type": "object",
    "required": ["tool", "arguments", "risk_level", "requested_by"],
    "additionalProperties": False,
    "properties": {
        "tool": {"type": "string", "minLength": 1, "maxLength": 200},
        "arguments": {"type": "object"},
        "context": {},
        "risk_level": {"enum": RiskLevel.values},
        "requested_by": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}
# What a reviewer may change: the arguments (an edit is a correction, with reasons).
APPROVAL_OUTPUT_SCHEMA = {
    "type": "object",
    "required": ["arguments"],
    "additionalProperties": False,
    "properties": {"arguments": {"type": "object", "title": "Arguments"}},
}
# Riskier actions come first in the claim order (a task's "uncertainty") and in priority.
RISK_PRIORITY = {"low": 0, "medium": 1, "high": 3, "critical": 5}
RISK_UNCERTAINTY = {"low": 0.1, "medium": 0.4, "high": 0.7, "critical": 1.0}


@dataclass(frozen=True)
class ApprovalPolicy:
    deadline_seconds: int
    max_deadline_seconds: int
    on_deadline: str
    four_eyes_risk: tuple[str, ...]


def approval_policy_of(definition: dict) -> ApprovalPolicy | None:
    """The workflow version's approval policy, or None when it is not an approval workflow."""
    policy = definition.get("approval")
    if policy is None:
        return None
    deadline = policy.get("deadline_seconds", 900)
    return ApprovalPolicy(
        deadline_seconds=deadline,
        max_deadline_seconds=max(deadline, policy.get("max_deadline_seconds", 86400)),
        on_deadline=policy.get("on_deadline", DeadlinePolicy.DENY),
        four_eyes_risk=tuple(policy.get("four_eyes_risk", ["high", "critical"])),
    )
