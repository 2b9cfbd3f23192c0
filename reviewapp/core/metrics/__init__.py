"""What reviewapp counts as work happens, for Prometheus (`/metrics`, built in operations).

Every stage records here (``count``, ``observe``) and never reads back: the web process, each
worker and beat may run on different machines, so the counts go to one shared store (Redis, or
the database in the embedded quick start), and the web process renders them on a scrape.
"""

from reviewapp.core.metrics import series
from reviewapp.core.metrics.recording import count, observe

__all__ = ["count", "observe", "series"]
