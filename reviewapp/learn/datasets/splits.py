"""train / validation / test: the split of a row follows from its input alone.

So a ticket seen again in a later release lands in the same split: no leakage from train into
test across releases.
"""

from typing import Any

from django.db.models import Func, TextField

from reviewapp.review.corrections.services import canonical_hash

SPLITS = (("train", 80), ("validation", 10), ("test", 10))


def split_for(input_value: Any) -> str:
    """train / validation / test, 80/10/10, from the SHA-256 of the canonical input."""
    return split_of_hash(canonical_hash(input_value))


def split_of_hash(input_hash: str) -> str:
    """The split of an input from its ``canonical_hash`` (``Correction.input_hash``)."""
    # The first 8 hex digits of the SHA-256, as an integer; SplitOf does the same in SQL.
    bucket = int(input_hash[:8], 16) % 100
    for name, share in SPLITS:
        if bucket < share:
            return name
        bucket -= share
    raise AssertionError("the split shares add up to 100")  # pragma: no cover


class SplitOf(Func):
    """PostgreSQL: ``split_of_hash`` of a hex SHA-256 column."""

    output_field = TextField()

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        digest, params = compiler.compile(self.source_expressions[0])
        bucket = f"mod(('x' || substr({digest}, 1, 8))::bit(32)::bigint, 100)"
        cases, bound = [], 0
        for name, share in SPLITS[:-1]:
            bound += share
            cases.append(f"WHEN {bucket} < {bound} THEN '{name}'")
        # Constants only: the split names and shares above; the digest is a compiled column.
        sql = f"CASE {' '.join(cases)} ELSE '{SPLITS[-1][0]}' END"
        return sql, tuple(params) * (len(SPLITS) - 1)
