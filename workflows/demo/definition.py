"""The demo workflow: support-ticket triage with a built-in scikit-learn model."""

from typing import Any

from workflows.demo.tickets import LABELS

TICKET_TRIAGE: dict[str, Any] = {
    "slug": "ticket-triage",
    "name": "Support ticket triage",
    "definition": {
        "input_schema": {
            "type": "object",
            "required": ["subject", "body"],
            "additionalProperties": False,
            "properties": {
                "subject": {"type": "string", "minLength": 1, "maxLength": 200},
                "body": {"type": "string", "minLength": 1, "maxLength": 5000},
                "customer_tier": {"enum": ["free", "pro", "enterprise"]},
            },
        },
        "output_schema": {
            "type": "object",
            "required": ["label"],
            "additionalProperties": False,
            "properties": {"label": {"enum": list(LABELS)}},
        },
        "labels": list(LABELS),
        "text_fields": ["subject", "body"],
        "model": {"name": "ticket-triage", "version": "1"},
        "routing": {
            "threshold": 0.8,
            # Business rule: refunds for enterprise customers always get a human look.
            "always_review": [{"field": "customer_tier", "equals": "enterprise",
                               "label": "billing"}],
        },
        "queue": "ticket-triage",
    },
    "reason_codes": [
        ("wrong-category", "Model picked the wrong category", "correct"),
        ("mixed-topics", "Ticket covers several topics", "both"),
        ("ambiguous-text", "Text is ambiguous", "both"),
        ("spam", "Spam or not a support ticket", "reject"),
        ("not-enough-information", "Not enough information to decide", "reject"),
    ],
}
