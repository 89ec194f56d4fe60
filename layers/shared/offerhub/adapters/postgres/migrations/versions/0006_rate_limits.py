"""Rate limits: one counter row per subject (an API key, the master key, a source IP), bucket and shard, holding
the hits of its current fixed window (offerhub.auth.limits; docs/api.md "Rate limits"), and the two functions
that count a request.

The table is UNLOGGED: an increment writes no WAL of its own, so its commit never waits for a disk flush. A crash
empties it (a window's counts are forgotten, which lets callers through, never refuses them), and standbys do not
have it. A row is reused window after window; the fillfactor leaves room for its updates to stay on the page (HOT).

The counting is in PL/pgSQL functions for one reason: PL/pgSQL keeps its statements' plans for the life of the
connection. The same work sent as one statement (a CTE that reads the key, touches it and upserts the counter)
cost about 0.4 ms to plan on every request, more than it took to run (the engine sends no server-side prepared
statements: they would pin connections to RDS Proxy). A call is still one statement and one round trip.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE UNLOGGED TABLE rate_limit_counters (
    subject      text NOT NULL,                                  -- key:<id>, master, ip:<address>
    bucket       text NOT NULL CHECK (bucket IN ('api', 'create', 'ip')),
    shard        smallint NOT NULL CHECK (shard >= 0),
    window_start timestamptz NOT NULL,                           -- the window hits belong to
    hits         integer NOT NULL CHECK (hits > 0),
    PRIMARY KEY (subject, bucket, shard)
) WITH (fillfactor = 50);
-- The occasional prune of rows nobody has counted on for an hour (source IPs seen once).
CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_start);

-- Count one request: the row of this subject, bucket and shard holds the hits of its window; a request in a later
-- window starts it again at 1, and one from a container whose clock lags counts in the row's (later) window.
-- Returns that window and the hits of all the subject's shards in it. With p_stale_before, first deletes up to
-- 100 rows nobody has counted on since then (the rows of a key come back with its next request).
CREATE FUNCTION rate_limit_count(p_subject text, p_bucket text, p_shard smallint, p_window_start timestamptz,
                                 p_stale_before timestamptz DEFAULT NULL)
RETURNS TABLE (window_start timestamptz, used bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    counted_window timestamptz;
    counted_hits   integer;
BEGIN
    IF p_stale_before IS NOT NULL THEN
        DELETE FROM rate_limit_counters
        WHERE window_start < p_stale_before AND (subject, bucket, shard) IN (
            SELECT subject, bucket, shard FROM rate_limit_counters WHERE window_start < p_stale_before LIMIT 100);
    END IF;
    INSERT INTO rate_limit_counters AS c (subject, bucket, shard, window_start, hits)
    VALUES (p_subject, p_bucket, p_shard, p_window_start, 1)
    ON CONFLICT (subject, bucket, shard) DO UPDATE SET
        hits = CASE WHEN c.window_start >= EXCLUDED.window_start THEN c.hits + 1 ELSE 1 END,
        window_start = GREATEST(c.window_start, EXCLUDED.window_start)
    RETURNING c.window_start, c.hits INTO counted_window, counted_hits;
    -- The other shards' hits, as committed before this statement (with one shard there are none).
    RETURN QUERY SELECT counted_window, counted_hits + coalesce(sum(o.hits), 0)
                 FROM rate_limit_counters o
                 WHERE o.subject = p_subject AND o.bucket = p_bucket AND o.window_start = counted_window
                   AND o.shard <> p_shard;
END $$;

-- Authenticate an API key and count the request, in one call: the key row; last_used_at moved on at one-minute
-- resolution (so a busy key is not rewritten on every request); the request counted against p_key_subject in
-- p_key_bucket when the hash matches an unrevoked row, else against p_ip_subject (bucket ip), so a caller who
-- knows a key id but not its secret spends their own IP's allowance, never the key's. The service compares the
-- hash again, in constant time: that decides authentication; this comparison only picks the counter (its timing
-- could tell at most how much of SHA-256(guess) matches the stored hash, which leads nowhere near a key).
CREATE FUNCTION rate_limit_admit(p_key_id text, p_secret_hash text, p_key_subject text, p_key_bucket text,
                                 p_ip_subject text, p_shard smallint, p_window_start timestamptz)
RETURNS TABLE (counted_bucket text, window_start timestamptz, used bigint, id text, name text, scopes text[],
               secret_hash text, revoked_at timestamptz, last_used_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    k     api_keys%ROWTYPE;
    valid boolean;
    hit   record;
BEGIN
    SELECT * INTO k FROM api_keys WHERE api_keys.id = p_key_id;
    valid := coalesce(k.secret_hash = p_secret_hash AND k.revoked_at IS NULL, false);
    IF valid AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds') THEN
        UPDATE api_keys SET last_used_at = now()
        WHERE api_keys.id = p_key_id
          AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < now() - interval '60 seconds');
    END IF;
    SELECT * INTO hit FROM rate_limit_count(CASE WHEN valid THEN p_key_subject ELSE p_ip_subject END,
                                            CASE WHEN valid THEN p_key_bucket ELSE 'ip' END,
                                            p_shard, p_window_start);
    RETURN QUERY SELECT CASE WHEN valid THEN p_key_bucket ELSE 'ip' END, hit.window_start, hit.used,
                        k.id, k.name, k.scopes, k.secret_hash, k.revoked_at, k.last_used_at;
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION rate_limit_admit(text, text, text, text, text, smallint, timestamptz);
DROP FUNCTION rate_limit_count(text, text, smallint, timestamptz, timestamptz);
DROP TABLE rate_limit_counters;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
