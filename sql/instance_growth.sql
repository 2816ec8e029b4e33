-- instance_growth: how fast each instance's backup storage grows.
-- Grain: one row per instance that has any snapshot history. "Now" is the current state (the
-- end of today, UTC); "7 days ago" and "30 days ago" are the states at the end of those UTC
-- days. Like instance_storage_daily it is reconstructed from snapshot_versions through
-- instance_storage_changes; it reads that table directly so that it needs no other view.
--
-- The daily growth is the least-squares slope of stored bytes against the day over the
-- end-of-day states from 30 days ago to today (31 of them; fewer for younger instances), in
-- exact numeric arithmetic. It is computed in one pass over the changes, without expanding the
-- days: with x the day relative to today (-30..0), c(d) the change on day d, x0 the first day
-- fitted and base the state before the window, the state on day x is base + sum of c(d) for
-- x0 <= d <= x, so
--   sum of states     = n * base + sum over d >= x0 of c(d) * (1 - d)
--   sum of x * state  = base * S(x0) + sum over d >= x0 of c(d) * S(d),  S(a) = a * (1 - a) / 2
-- (S(a) being the sum of the integers from a to 0), and the slope is
-- (n * sum(x * state) - sum(x) * sum(state)) / (n * sum(x * x) - sum(x) ^ 2).
DROP VIEW IF EXISTS instance_growth CASCADE;

CREATE VIEW instance_growth AS
WITH changes AS (
    SELECT
        c.project_id,
        c.instance_name,
        c.day - (now() AT TIME ZONE 'UTC')::date AS d,
        c.live_change,
        c.bytes_change
    FROM instance_storage_changes AS c
    WHERE c.day <= (now() AT TIME ZONE 'UTC')::date
),
sums AS (
    SELECT
        ch.project_id,
        ch.instance_name,
        greatest(min(ch.d), -30)                                            AS x0,
        sum(ch.live_change)                                                 AS live_now,
        sum(ch.live_change) FILTER (WHERE ch.d <= -7)                       AS live_7d,
        sum(ch.live_change) FILTER (WHERE ch.d <= -30)                      AS live_30d,
        sum(ch.bytes_change)                                                AS bytes_now,
        sum(ch.bytes_change) FILTER (WHERE ch.d <= -7)                      AS bytes_7d,
        sum(ch.bytes_change) FILTER (WHERE ch.d <= -30)                     AS bytes_30d,
        coalesce(sum(ch.bytes_change) FILTER (WHERE ch.d < -30), 0)         AS base,
        coalesce(sum(ch.bytes_change * (1 - ch.d)) FILTER (WHERE ch.d >= -30), 0) AS sy_changes,
        coalesce(sum(ch.bytes_change * ch.d * (1 - ch.d) / 2) FILTER (WHERE ch.d >= -30), 0) AS sxy_changes,
        min(ch.d)                                                           AS first_d
    FROM changes AS ch
    GROUP BY ch.project_id, ch.instance_name
),
fit AS (
    SELECT
        s.*,
        1 - s.x0                                        AS n,
        s.x0 * (1 - s.x0) / 2                           AS sx,
        (-s.x0) * (1 - s.x0) * (1 - 2 * s.x0) / 6       AS sxx,
        (1 - s.x0) * s.base + s.sy_changes              AS sy,
        s.base * s.x0 * (1 - s.x0) / 2 + s.sxy_changes  AS sxy
    FROM sums AS s
)
SELECT
    f.project_id,
    f.instance_name,
    f.live_now::integer                                                       AS live_snapshots,
    CASE WHEN f.first_d <= -7 THEN f.live_7d END::integer                     AS live_snapshots_7d_ago,
    CASE WHEN f.first_d <= -30 THEN f.live_30d END::integer                   AS live_snapshots_30d_ago,
    f.bytes_now::bigint                                                       AS stored_bytes,
    CASE WHEN f.first_d <= -7 THEN f.bytes_7d END::bigint                     AS stored_bytes_7d_ago,
    CASE WHEN f.first_d <= -30 THEN f.bytes_30d END::bigint                   AS stored_bytes_30d_ago,
    round((f.n * f.sxy - f.sx * f.sy) / nullif(f.n * f.sxx - f.sx * f.sx, 0), 3) AS growth_bytes_per_day,
    f.n::integer                                                              AS growth_days,
    CASE WHEN f.first_d <= -7
        THEN round(100 * (f.bytes_now - f.bytes_7d) / nullif(f.bytes_7d, 0), 2) END   AS change_7d_pct,
    CASE WHEN f.first_d <= -30
        THEN round(100 * (f.bytes_now - f.bytes_30d) / nullif(f.bytes_30d, 0), 2) END AS change_30d_pct
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
