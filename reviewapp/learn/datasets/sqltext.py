"""SQL pieces the dataset query builds its text columns from."""

from django.db.models import Func, TextField, Value


class SqlText(Func):
    """SQL text with compiled expressions in the ``{}`` places, in order.

    The text itself is a constant of this package; values the user or the settings chose travel
    as ``Value`` expressions, i.e. as query parameters.
    """

    output_field = TextField()

    def __init__(self, text: str, *expressions) -> None:
        if text.count("{}") != len(expressions):
            raise ValueError("one expression per {} in the text")
        self.text = text
        super().__init__(*expressions)

    def as_sql(
        self, compiler, connection, function=None, template=None, arg_joiner=None, **extra_context
    ):
        parts, params = [], []
        for expression in self.source_expressions:
            sql, values = compiler.compile(expression)
            parts.append(sql)
            params.extend(values)
        return self.text.format(*parts), params


def sql_text(value: str) -> SqlText:
    """``value`` as a text parameter."""
    return SqlText("CAST({} AS text)", Value(value))


class IsoFormatUTC(Func):
    """A timestamp as ``datetime.isoformat()`` writes the UTC datetime Django loads for it.

    Formatting a million timestamps in the database costs less than loading each into a Python
    datetime and formatting it there.
    """

    # isoformat() leaves out a zero fraction; ".000000" cannot stand anywhere else in the text.
    template = (
        "replace(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
        "'.000000', '') || '+00:00'"
    )
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores an aware datetime on SQLite as the text of the naive UTC datetime,
        # "YYYY-MM-DD HH:MM:SS[.ffffff]" (str(), which like isoformat() drops a zero fraction).
        return self.as_sql(
            compiler,
            connection,
            template=(
                "substr(%(expressions)s, 1, 10) || 'T' || substr(%(expressions)s, 12, 8) || "
                "CASE WHEN length(%(expressions)s) > 19 "
                "AND substr(%(expressions)s, 21) != '000000' "
                "THEN '.' || substr(%(expressions)s, 21, 6) ELSE '' END || '+00:00'"
            ),
            **extra_context,
        )
