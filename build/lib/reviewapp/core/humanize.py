"""Values rendered for people."""

from datetime import timedelta


def duration_text(span: timedelta) -> str:
    """Two most significant units: "3 d 4 h", "2 h 5 min", "4 min 10 s", "0 s"."""
    seconds = max(int(span.total_seconds()), 0)
    units = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]
    parts: list[str] = []
    for name, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append(f"{amount} {name}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0 s"
