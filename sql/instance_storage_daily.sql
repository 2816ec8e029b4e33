-- instance_storage_daily: how many snapshots each instance had and how many bytes they held, day
-- by day.
-- Grain: one row per instance (instances table) and UTC calendar day, from the day its first
-- snapshot was seen to today (UTC). Each row is the state at the end of that day, reconstructed from the history in
-- snapshot_versions (through instance_storage_changes, which triggers keep in step with it), not
-- from the current snapshots table. Days without a run carry the last known state.
DROP VIEW IF EXISTS instance_storage_daily CASCADE;

CREATE VIEW instance_storage_daily AS
SELECT
    i.project_id,
    i.name          AS instance_name,
    d.day,
    d.live_snapshots,
    d.stored_bytes,
    d.live_change,
    d.bytes_change
FROM instances AS i
CROSS JOIN LATERAL (
    SELECT
        g.day::date                                                      AS day,
        r.live::integer                                                  AS live_snapshots,
        r.bytes::bigint                                                  AS stored_bytes,
        CASE WHEN g.day = r.day THEN r.live_change ELSE 0 END::integer   AS live_change,
        CASE WHEN g.day = r.day THEN r.bytes_change ELSE 0 END::bigint   AS bytes_change
    FROM (
        SELECT
            c.day,
            c.live_change,
            c.bytes_change,
            sum(c.live_change) OVER w  AS live,
            sum(c.bytes_change) OVER w AS bytes,
            lead(c.day) OVER w         AS next_day
        FROM instance_storage_changes AS c
        WHERE c.project_id = i.project_id AND c.instance_name = i.name
        WINDOW w AS (ORDER BY c.day)
    ) AS r
    CROSS JOIN LATERAL generate_series(
        r.day,
        coalesce(r.next_day - 1, greatest(r.day, (now() AT TIME ZONE 'UTC')::date)),
        interval '1 day'
    ) AS g (day)
) AS d;

COMMENT ON VIEW instance_storage_daily IS
    'Per instance and UTC day: live snapshots and stored bytes at the end of the day, and the change from the day before, reconstructed from snapshot_versions. Grain: one row per instance per UTC calendar day, from its first snapshot to today (UTC); days without a run carry the last known state.';
COMMENT ON COLUMN instance_storage_daily.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN instance_storage_daily.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN instance_storage_daily.day IS 'Calendar day in UTC (a date; no time zone applies).';
COMMENT ON COLUMN instance_storage_daily.live_snapshots IS
    'Snapshots live (listed, not removed) at the end of the day, UTC, as the exporter knew them.';
COMMENT ON COLUMN instance_storage_daily.stored_bytes IS
    'Sum of storage_size_bytes of those snapshots, in bytes. Flex reports no size: its snapshots count in live_snapshots and add 0 bytes.';
COMMENT ON COLUMN instance_storage_daily.live_change IS 'live_snapshots minus the day before''s (the first day: minus 0).';
COMMENT ON COLUMN instance_storage_daily.bytes_change IS 'stored_bytes minus the day before''s, in bytes (the first day: minus 0).';
