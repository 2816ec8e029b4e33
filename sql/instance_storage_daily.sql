DROP VIEW IF EXISTS instance_storage_daily CASCADE;
CREATE VIEW instance_storage_daily AS
WITH events AS (
    SELECT v.project_id, v.instance_name, (v.valid_from AT TIME ZONE 'UTC')::date AS day,
           1 AS d_live, coalesce(v.storage_size_bytes, 0) AS d_bytes
    FROM snapshot_versions AS v
    WHERE v.change <> 'removed'
    UNION ALL
    SELECT v.project_id, v.instance_name, (v.valid_to AT TIME ZONE 'UTC')::date,
           -1, -coalesce(v.storage_size_bytes, 0)
    FROM snapshot_versions AS v
    WHERE v.change <> 'removed' AND v.valid_to IS NOT NULL
),
daily AS (
    SELECT project_id, instance_name, day, sum(d_live)::bigint AS d_live, sum(d_bytes)::bigint AS d_bytes
    FROM events GROUP BY project_id, instance_name, day
),
running AS (
    SELECT d.*, sum(d.d_live) OVER w AS live, sum(d.d_bytes) OVER w AS bytes, lead(d.day) OVER w AS next_day
    FROM daily AS d
    WINDOW w AS (PARTITION BY d.project_id, d.instance_name ORDER BY d.day)
)
SELECT r.project_id, r.instance_name, g.day::date AS day,
       r.live::integer AS live_snapshots, r.bytes::bigint AS stored_bytes,
       CASE WHEN g.day = r.day THEN r.d_live ELSE 0 END::integer AS live_change,
       CASE WHEN g.day = r.day THEN r.d_bytes ELSE 0 END::bigint AS bytes_change
FROM running AS r
CROSS JOIN LATERAL generate_series(r.day, coalesce(r.next_day - 1, greatest(r.day, (now() AT TIME ZONE 'UTC')::date)), interval '1 day') AS g(day);
