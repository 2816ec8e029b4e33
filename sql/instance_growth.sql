-- instance_growth: how fast each instance's backup storage grows.
-- Grain: one row per instance (instances table) that has any snapshot history. "Now" is the current state (the
-- end of today, UTC); "7 days ago" and "30 days ago" are the states at the end of those UTC
-- days. Like instance_storage_daily it is reconstructed from snapshot_versions through
-- instance_storage_changes; it reads that table directly so that it needs no other view.
--
-- The daily growth is the least-squares slope of stored bytes over the 31 end-of-day states
-- from 30 days ago to today (fewer for younger instances), computed in exact numeric arithmetic.
DROP VIEW IF EXISTS instance_growth CASCADE;

CREATE VIEW instance_growth AS
WITH today AS (
    SELECT (now() AT TIME ZONE 'UTC')::date AS day
),
fit AS (
    SELECT
        i.project_id,
        i.name                                 AS instance_name,
        max(s.live) FILTER (WHERE s.x = 0)     AS live_now,
        max(s.live) FILTER (WHERE s.x = -7)    AS live_7d,
        max(s.live) FILTER (WHERE s.x = -30)   AS live_30d,
        max(s.bytes) FILTER (WHERE s.x = 0)    AS bytes_now,
        max(s.bytes) FILTER (WHERE s.x = -7)   AS bytes_7d,
        max(s.bytes) FILTER (WHERE s.x = -30)  AS bytes_30d,
        count(*)                               AS n,
        (count(*) * sum(s.x * s.bytes) - sum(s.x) * sum(s.bytes))
            / nullif(count(*) * sum(s.x * s.x) - sum(s.x) * sum(s.x), 0) AS slope
    FROM instances AS i
    CROSS JOIN today AS t
    CROSS JOIN LATERAL (
        SELECT
            g.day::date - t.day   AS x,
            r.live,
            r.bytes
        FROM (
            SELECT
                c.day,
                sum(c.live_change) OVER w                 AS live,
                sum(c.bytes_change) OVER w                AS bytes,
                coalesce(lead(c.day) OVER w, t.day + 1)   AS next_day
            FROM instance_storage_changes AS c
            WHERE c.project_id = i.project_id AND c.instance_name = i.name AND c.day <= t.day
            WINDOW w AS (ORDER BY c.day)
        ) AS r
        CROSS JOIN LATERAL generate_series(
            greatest(r.day, t.day - 30), least(r.next_day - 1, t.day), interval '1 day'
        ) AS g (day)
        WHERE r.next_day > t.day - 30
    ) AS s
    GROUP BY i.project_id, i.name
)
SELECT
    f.project_id,
    f.instance_name,
    f.live_now::integer                                                   AS live_snapshots,
    f.live_7d::integer                                                    AS live_snapshots_7d_ago,
    f.live_30d::integer                                                   AS live_snapshots_30d_ago,
    f.bytes_now::bigint                                                   AS stored_bytes,
    f.bytes_7d::bigint                                                    AS stored_bytes_7d_ago,
    f.bytes_30d::bigint                                                   AS stored_bytes_30d_ago,
    round(f.slope, 3)                                                     AS growth_bytes_per_day,
    f.n::integer                                                          AS growth_days,
    round(100 * (f.bytes_now - f.bytes_7d) / nullif(f.bytes_7d, 0), 2)    AS change_7d_pct,
    round(100 * (f.bytes_now - f.bytes_30d) / nullif(f.bytes_30d, 0), 2)  AS change_30d_pct
FROM fit AS f;

COMMENT ON VIEW instance_growth IS
    'Per instance: live snapshots and stored bytes now, 7 and 30 days ago (end of UTC day), the daily growth as a least-squares slope over 30 days, and the percentage change. Grain: one row per instance with snapshot history. Reconstructed from snapshot_versions.';
COMMENT ON COLUMN instance_growth.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN instance_growth.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN instance_growth.live_snapshots IS 'Live snapshots now.';
COMMENT ON COLUMN instance_growth.live_snapshots_7d_ago IS
    'Live snapshots at the end of the UTC day 7 days before today; null when the history starts later.';
COMMENT ON COLUMN instance_growth.live_snapshots_30d_ago IS
    'Live snapshots at the end of the UTC day 30 days before today; null when the history starts later.';
COMMENT ON COLUMN instance_growth.stored_bytes IS 'Bytes held by the live snapshots now (Flex reports no size and adds 0).';
COMMENT ON COLUMN instance_growth.stored_bytes_7d_ago IS
    'Bytes held at the end of the UTC day 7 days before today; null when the history starts later.';
COMMENT ON COLUMN instance_growth.stored_bytes_30d_ago IS
    'Bytes held at the end of the UTC day 30 days before today; null when the history starts later.';
COMMENT ON COLUMN instance_growth.growth_bytes_per_day IS
    'Least-squares slope of end-of-day stored bytes against the day over the last 30 days, in bytes per day; null with a single day of history.';
COMMENT ON COLUMN instance_growth.growth_days IS 'How many end-of-day states the slope was fitted to (at most 31).';
COMMENT ON COLUMN instance_growth.change_7d_pct IS
    'Percentage change of stored_bytes against 7 days ago; null when that was 0 or unknown.';
COMMENT ON COLUMN instance_growth.change_30d_pct IS
    'Percentage change of stored_bytes against 30 days ago; null when that was 0 or unknown.';
