"""Django's database sessions, each request's read in plain SQL (``SESSION_ENGINE``).

Every signed-in page and htmx swap reads its session first; building the queryset cost more
CPU than the database spent on the read. Writes, expiry and clearing stay Django's own."""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        # The primary key's index finds the row; an expired one is no session, as Django's.
        sql = (
            f"SELECT session_key, session_data, expire_date FROM {quote(model._meta.db_table)} "  # noqa: S608
            "WHERE session_key = %s AND expire_date > %s"
        )
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=row[0], session_data=row[1], expire_date=row[2])
