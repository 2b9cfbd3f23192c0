"""Cells that a spreadsheet opens safely: a value that starts like a formula is made inert."""

# What Excel, LibreOffice and Sheets read as the start of a formula (OWASP's list).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """Make a cell inert by prefixing a quote (OWASP's advice for CSV injection)."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
