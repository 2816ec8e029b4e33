-- instance_backup_freshness: is each instance still being backed up?
-- Grain: one row per instance (instances table). Times are UTC instants; ages are measured from
-- the query's now().
--
-- The usual cadence is the median gap between the instance's last 11 completed snapshots
-- (removed ones included: they were taken). With fewer than 4 such snapshots there is too little
-- history and a daily cadence is assumed. An instance is overdue when its newest completed
-- snapshot is older than 1.5 times the cadence plus one hour (the exporter sees a new snapshot
-- up to one run late), or, with no completed snapshot at all, when it has been known that long.
DROP VIEW IF EXISTS instance_backup_freshness CASCADE;

CREATE VIEW instance_backup_freshness AS
WITH cadence AS (
    SELECT
        i.project_id,
        i.name,
        i.family,
        i.first_seen_at,
        i.last_listed_at,
        c.newest,
        c.gaps,
        CASE WHEN c.gaps >= 3 THEN c.median_gap END AS cadence
    FROM instances AS i
    CROSS JOIN LATERAL (
        SELECT
            max(g.taken_at)                                            AS newest,
            count(g.gap)::integer                                      AS gaps,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY g.gap)         AS median_gap
        FROM (
            SELECT
                r.taken_at,
                r.taken_at - lag(r.taken_at) OVER (ORDER BY r.taken_at) AS gap
            FROM (
                SELECT x.taken_at
                FROM snapshots AS x
                WHERE x.project_id = i.project_id
                  AND x.instance_name = i.name
                  AND x.state = 'completed'
                  AND x.taken_at IS NOT NULL
                ORDER BY x.taken_at DESC
                LIMIT 11
            ) AS r
        ) AS g
    ) AS c
),
judged AS (
    SELECT
        c.*,
        coalesce(c.cadence, interval '1 day') * 1.5 + interval '1 hour' AS overdue_after
    FROM cadence AS c
)
SELECT
    j.project_id,
    j.name                                          AS instance_name,
    j.family,
    j.newest                                        AS last_completed_at,
    now() - j.newest                                AS age,
    j.cadence                                       AS usual_cadence,
    CASE WHEN j.cadence IS NULL THEN 'default' ELSE 'observed' END AS cadence_source,
    j.gaps                                          AS cadence_sample,
    j.overdue_after,
    coalesce(j.newest, j.first_seen_at) < now() - j.overdue_after AS overdue,
    f.failed_last_day,
    f.failed_last_week,
    j.last_listed_at,
    e.last_export_at,
    e.last_export_status
FROM judged AS j
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE x.taken_at >= now() - interval '1 day')::integer AS failed_last_day,
        count(*)::integer                                                      AS failed_last_week
    FROM snapshots AS x
    WHERE x.project_id = j.project_id
      AND x.instance_name = j.name
      AND x.state = 'failed'
      AND x.taken_at >= now() - interval '7 days'
) AS f
LEFT JOIN LATERAL (
    SELECT
        coalesce(t.finished_at, t.started_at) AS last_export_at,
        t.status                              AS last_export_status
    FROM export_run_targets AS t
    WHERE t.target = j.project_id || '/' || j.name
    ORDER BY t.run_id DESC
    LIMIT 1
) AS e ON true;

COMMENT ON VIEW instance_backup_freshness IS
    'Per instance: the newest completed snapshot, its age, the usual cadence, whether it is overdue, recent failures and the last export. Grain: one row per instance. Times are UTC instants; ages are measured from the query''s now().';
COMMENT ON COLUMN instance_backup_freshness.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN instance_backup_freshness.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN instance_backup_freshness.family IS 'API family currently serving its snapshots: flex or serverless.';
COMMENT ON COLUMN instance_backup_freshness.last_completed_at IS
    'When the newest completed snapshot was taken (UTC instant), removed or not; null when none was ever seen.';
COMMENT ON COLUMN instance_backup_freshness.age IS 'now() minus last_completed_at, as an interval.';
COMMENT ON COLUMN instance_backup_freshness.usual_cadence IS
    'Median gap between the last 11 completed snapshots, as an interval; null with fewer than 4 of them.';
COMMENT ON COLUMN instance_backup_freshness.cadence_source IS
    'observed (usual_cadence from the history) or default (too little history: one day assumed).';
COMMENT ON COLUMN instance_backup_freshness.cadence_sample IS 'How many gaps usual_cadence was computed from (0 to 10).';
COMMENT ON COLUMN instance_backup_freshness.overdue_after IS
    'Age past which the instance is overdue: 1.5 times the cadence (usual_cadence, else one day) plus one hour.';
COMMENT ON COLUMN instance_backup_freshness.overdue IS
    'True when age exceeds overdue_after, or when there is no completed snapshot and the instance was first seen longer ago than that.';
COMMENT ON COLUMN instance_backup_freshness.failed_last_day IS 'Failed snapshots taken in the 24 hours before now().';
COMMENT ON COLUMN instance_backup_freshness.failed_last_week IS 'Failed snapshots taken in the 7 days before now().';
COMMENT ON COLUMN instance_backup_freshness.last_listed_at IS
    'When the exporter last merged a complete listing of the instance (UTC instant).';
COMMENT ON COLUMN instance_backup_freshness.last_export_at IS
    'When the latest export of the instance ended (or started, while running), whatever its outcome (UTC instant).';
COMMENT ON COLUMN instance_backup_freshness.last_export_status IS
    'Outcome of that export: running, succeeded, failed or interrupted; null when never exported.';
