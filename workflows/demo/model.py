"""Training the demo's built-in model from the generated tickets."""

from typing import TYPE_CHECKING

from workflows.demo.tickets import generate_tickets

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

TRAINING_SEED = 20261124
TRAINING_SIZE = 600


def ticket_text(ticket_input: dict) -> str:
    return f"{ticket_input.get('subject', '')}\n{ticket_input.get('body', '')}"


def build_classifier() -> "Pipeline":
    # Heavy imports, only needed when training: importing this module stays cheap.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    # Sigmoid calibration turns the classifier's scores into probabilities the routing
    # threshold can be set against ("0.8 means right 8 times in 10").
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            (
                "classifier",
                CalibratedClassifierCV(
                    LogisticRegression(max_iter=2000, C=2.0), method="sigmoid", cv=3
                ),
            ),
        ]
    )


def train_demo_model() -> tuple[bytes, dict]:
    """Train on generated tickets; return the skops file's bytes and held-out metrics."""
    from skops import io as skops_io  # heavy import, only needed here

    tickets = generate_tickets(TRAINING_SIZE, seed=TRAINING_SEED, mixed_share=0.2)
    split = int(len(tickets) * 0.8)
    train, held_out = tickets[:split], tickets[split:]
    model = build_classifier()
    model.fit([ticket_text(t.as_input()) for t in train], [t.label for t in train])
    predicted = model.predict([ticket_text(t.as_input()) for t in held_out])
    accuracy = sum(p == t.label for p, t in zip(predicted, held_out, strict=True)) / len(held_out)
    return skops_io.dumps(model), {
        "held_out_accuracy": round(accuracy, 4),
        "train_size": len(train),
        "held_out_size": len(held_out),
    }
