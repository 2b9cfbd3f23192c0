"""A deterministic generator of support tickets for the demo workflow.

Tickets are built from phrase banks per category with a seeded RNG, so the training set, the
demo items and the tests are the same on every machine and nothing is downloaded. A share of
tickets mixes phrases from two categories: those are the ones the model is unsure about and
that end up in front of a reviewer.
"""

import random
from dataclasses import dataclass

LABELS = ("billing", "technical", "account", "shipping")

_PHRASES: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged twice for my subscription",
        "the invoice amount is wrong",
        "please refund the last payment",
        "my credit card was declined at checkout",
        "why did the price go up on my plan",
        "I need a copy of the receipt for accounting",
        "cancel the renewal charge",
        "the tax on my bill looks incorrect",
    ),
    "technical": (
        "the app crashes when I open the dashboard",
        "I get an error 500 after uploading a file",
        "the page keeps loading forever",
        "sync stopped working since the last update",
        "the export button does nothing",
        "notifications are not arriving on android",
        "the API returns a timeout for every request",
        "search results are empty even though data exists",
    ),
    "account": (
        "I cannot log in to my account",
        "please reset my password",
        "how do I change the email address on my profile",
        "I want to delete my account and data",
        "two factor authentication code is not accepted",
        "add a new user to our team workspace",
        "my account was locked after too many attempts",
        "transfer ownership of the organisation to a colleague",
    ),
    "shipping": (
        "my parcel has not arrived yet",
        "the tracking number does not work",
        "the package arrived damaged",
        "can I change the delivery address for my order",
        "the courier left the box at the wrong door",
        "how long does international delivery take",
        "I received the wrong item in my order",
        "the order shows delivered but nothing came",
    ),
}

_OPENERS = ("Hello,", "Hi team,", "Good morning,", "Hey,", "Dear support,", "")
_CLOSERS = ("Thanks.", "Please help.", "Regards.", "This is urgent.", "Cheers.", "")
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "billing": ("Billing question", "Refund", "Invoice", "Payment problem"),
    "technical": ("Bug report", "Error in app", "Something is broken", "Technical issue"),
    "account": ("Login problem", "Account access", "Profile change", "Account question"),
    "shipping": ("Where is my order", "Delivery problem", "Shipping", "Order status"),
}
_NEUTRAL_SUBJECTS = ("Question", "Help needed", "Support request", "Problem")
_TIERS = ("free", "pro", "enterprise")


@dataclass(frozen=True)
class Ticket:
    subject: str
    body: str
    customer_tier: str
    label: str

    def as_input(self) -> dict:
        return {"subject": self.subject, "body": self.body, "customer_tier": self.customer_tier}


def generate_tickets(count: int, *, seed: int, mixed_share: float = 0.25) -> list[Ticket]:
    rng = random.Random(seed)
    tickets = []
    for _ in range(count):
        label = rng.choice(LABELS)
        sentences = rng.sample(_PHRASES[label], k=rng.randint(1, 2))
        subject_bank = _SUBJECTS[label]
        if rng.random() < mixed_share:
            # A ticket that also talks about something else: the true label stays the first
            # topic, but the text pulls the model two ways.
            other = rng.choice([candidate for candidate in LABELS if candidate != label])
            sentences.append(rng.choice(_PHRASES[other]))
            subject_bank = _NEUTRAL_SUBJECTS
        parts = (rng.choice(_OPENERS), ". ".join(sentences) + ".", rng.choice(_CLOSERS))
        body = " ".join(part for part in parts if part)
        tickets.append(
            Ticket(
                subject=rng.choice(subject_bank),
                body=body,
                customer_tier=rng.choice(_TIERS),
                label=label,
            )
        )
    return tickets
