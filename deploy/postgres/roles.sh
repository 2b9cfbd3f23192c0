#!/usr/bin/env bash
# Creates the two roles reviewapp runs as, on the first start of an empty PostgreSQL volume
# (the official image runs /docker-entrypoint-initdb.d/*.sh as the superuser):
#   reviewapp_owner  owns the database and its tables; `migrate` runs as it
#   reviewapp_app    the application; granted by every migrate what it needs, and on the audit
#                    table only SELECT and INSERT (reviewapp.core.audit.roles)
# For a volume created before this script existed, run it once by hand:
#   docker compose exec -e DATABASE_OWNER_PASSWORD -e DATABASE_APP_PASSWORD postgres \
#       bash /docker-entrypoint-initdb.d/roles.sh
set -euo pipefail

: "${DATABASE_OWNER_PASSWORD:?set DATABASE_OWNER_PASSWORD}"
: "${DATABASE_APP_PASSWORD:?set DATABASE_APP_PASSWORD}"
db="${POSTGRES_DB:-reviewapp}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "$db" \
    -v owner_password="$DATABASE_OWNER_PASSWORD" -v app_password="$DATABASE_APP_PASSWORD" \
    -v db="$db" <<'SQL'
SELECT 'CREATE ROLE reviewapp_owner LOGIN'
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reviewapp_owner') \gexec
SELECT 'CREATE ROLE reviewapp_app LOGIN'
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reviewapp_app') \gexec
ALTER ROLE reviewapp_owner PASSWORD :'owner_password';
ALTER ROLE reviewapp_app PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO reviewapp_owner;
ALTER SCHEMA public OWNER TO reviewapp_owner;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO reviewapp_app;
SQL
