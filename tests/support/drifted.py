"""Tickets of a new kind the demo model has never seen (sent from the mobile app, in other words):
the seed model gets many wrong, so reviewing them yields corrections worth retraining on."""

import random

from workflows.demo.tickets import LABELS

# New ways of saying the same four things: no phrase shares its key words with the seed's banks.
DRIFTED = {
    "billing": (
        "the direct debit bounced twice this quarter",
        "we were overbilled on the quarterly statement",
        "the voucher discount never got applied",
        "I want my money back for the upgrade",
        "the VAT number is missing on the statement",
        "stop taking money from my bank",
    ),
    "technical": (
        "the widget freezes right after startup",
        "the firmware blinks a red light",
        "the printer driver throws an exception",
        "the screen goes blank after the splash",
        "the spreadsheet plugin hangs on import",
        "the chart shows garbage characters",
    ),
    "account": (
        "someone took my username",
        "merge my two profiles into one",
        "revoke access for a former employee",
        "the sign in link expired again",
        "my colleague needs admin rights",
        "the security question answer is not recognised",
    ),
    "shipping": (
        "the van never showed up",
        "the pallet is stuck at customs",
        "the box came half empty",
        "the depot says returned to sender",
        "the driver asked for a fee at the doorstep",
        "the consignment went to another city",
    ),
}
FOOTER = "Sent from the mobile app."


def drifted_tickets(count: int, *, seed: int) -> list[tuple[dict, str]]:
    rng = random.Random(seed)
    tickets = []
    for _ in range(count):
        label = rng.choice(LABELS)
        body = ". ".join(rng.sample(DRIFTED[label], k=rng.randint(1, 2))) + ". " + FOOTER
        subject = rng.choice(("Question", "Help needed", "Support request", "Problem"))
        tier = rng.choice(("free", "pro", "enterprise"))
        tickets.append(({"subject": subject, "body": body, "customer_tier": tier}, label))
    return tickets
