"""Least privilege in the database: migrations run as the tables' owner, the application as a
role that may read and write its tables but only read and append to the audit trail.

The grants are applied after every ``migrate`` (run as the owner) when ``DATABASE_APP_ROLE``
names the application's role, so tables added by later migrations are covered too.
"""

from django.conf import settings
from django.db import connections
from psycopg import sql

from reviewapp.core.audit.models import AuditEvent

# What the application never does to the audit trail; the owner keeps these rights, which is
# why the chain heads are also kept outside the database (see reviewapp.core.audit.heads).
AUDIT_REFUSED = "UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"


def database_app_role_grant(role: str, *, using: str = "default") -> None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        names = {"role": sql.Identifier(role), "schema": sql.Identifier(schema)}
        statements = [
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}",
            f"REVOKE {AUDIT_REFUSED} ON {{audit}} FROM {{role}}",
        ]
        for statement in statements:
            cursor.execute(
                sql.SQL(statement).format(**names, audit=sql.Identifier(AuditEvent._meta.db_table))
            )


def grant_after_migrate(sender, using="default", **kwargs) -> None:
    if settings.REVIEWAPP_DATABASE_APP_ROLE:
        database_app_role_grant(settings.REVIEWAPP_DATABASE_APP_ROLE, using=using)
