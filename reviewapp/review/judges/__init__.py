"""How far an LLM judge may be trusted: every reviewer decision on a judged item is a check of
the judge (``checks.py``); a job recomputes each judge version's agreement with reviewers and
applies the trust gate (``agreement.py``)."""
