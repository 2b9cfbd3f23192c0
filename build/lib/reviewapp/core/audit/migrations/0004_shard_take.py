"""``audit_shard_take``: take a free shard of a chain and read its last event in one round trip.

Appending to a chain holds a shard's lock until commit, so every round trip between taking it
and committing is time the workflow's other writers may wait (dozens of reviewers on one
workflow). Taking the lock and reading the last event cannot be one plain statement: in READ
COMMITTED a statement's snapshot is taken when it starts, before the lock, and would miss the
event the shard's previous holder committed while it waited. Inside a VOLATILE function each
statement takes a fresh snapshot, so the read that follows the lock sees it. SQLite (the quick
start) serialises writers with IMMEDIATE transactions and reads the last event directly.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_shard_take(chain_name text, chain_key integer, shards integer[])
RETURNS TABLE (shard integer, seq bigint, hash varchar) AS $$
DECLARE
    taken integer;
BEGIN
    -- The first free shard from the caller's starting point (or one this transaction holds:
    -- advisory locks are re-entrant); LIMIT stops the volatile try-lock at the first success.
    SELECT s INTO taken FROM unnest(shards) AS s
        WHERE pg_try_advisory_xact_lock(chain_key, s) LIMIT 1;
    IF taken IS NULL THEN
        -- All busy: wait on the starting shard, holding none.
        taken := shards[1];
        PERFORM pg_advisory_xact_lock(chain_key, taken);
    END IF;
    -- A new statement, so a new snapshot: it sees what the previous holder committed.
    RETURN QUERY
        SELECT taken, e.seq::bigint, e.hash FROM audit_auditevent e
        WHERE e.chain = chain_name AND e.shard = taken ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN QUERY SELECT taken, 0::bigint, NULL::varchar;
    END IF;
END;
$$ LANGUAGE plpgsql VOLATILE;
"""

DROP = "DROP FUNCTION IF EXISTS audit_shard_take(text, integer, integer[]);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_sharded_chains")]
    operations = [migrations.RunPython(create, drop)]
