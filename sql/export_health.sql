-- export_health: how the exporter is doing, target by target.
-- Grain: one row per target ever recorded in export_run_targets (projectID/name; a project
-- target's own id, for the listing of its instances; or the configured target when it could
-- not be resolved). Times are UTC instants.
--
-- The list of targets is read with a skip scan over export_run_targets (target, run_id): one
-- index probe per target rather than a pass over every run's rows.
DROP VIEW IF EXISTS export_health CASCADE;

CREATE VIEW export_health AS
WITH RECURSIVE targets AS (
    (SELECT t.target FROM export_run_targets AS t ORDER BY t.target LIMIT 1)
    UNION ALL
    SELECT n.target
    FROM targets AS p
    CROSS JOIN LATERAL (
        SELECT t.target FROM export_run_targets AS t
        WHERE t.target > p.target
        ORDER BY t.target
        LIMIT 1
    ) AS n
)
SELECT
    tg.target,
    l.project_id,
    l.instance_name,
    l.family,
    l.run_id                                    AS last_run_id,
    coalesce(l.finished_at, l.started_at)       AS last_run_at,
    l.status                                    AS last_status,
    l.error_code                                AS last_error_code,
    l.error_detail                              AS last_error_detail,
    s.run_id                                    AS last_success_run_id,
    s.finished_at                               AS last_success_at,
    f.failures                                  AS consecutive_failures
FROM targets AS tg
CROSS JOIN LATERAL (
    SELECT t.run_id, t.project_id, t.instance_name, t.family, t.status, t.error_code, t.error_detail,
        t.started_at, t.finished_at
    FROM export_run_targets AS t
    WHERE t.target = tg.target
    ORDER BY t.run_id DESC
    LIMIT 1
) AS l
LEFT JOIN LATERAL (
    SELECT t.run_id, t.finished_at
    FROM export_run_targets AS t
    WHERE t.target = tg.target AND t.status = 'succeeded'
    ORDER BY t.run_id DESC
    LIMIT 1
) AS s ON true
CROSS JOIN LATERAL (
    SELECT count(*)::integer AS failures
    FROM export_run_targets AS t
    WHERE t.target = tg.target
      AND t.run_id > coalesce(s.run_id, 0)
      AND t.status = 'failed'
) AS f;

COMMENT ON VIEW export_health IS
    'Per target: the last run, the last success and the failures since. Grain: one row per target ever exported. Times are UTC instants.';
COMMENT ON COLUMN export_health.target IS
    'projectID/name of the instance; a project target''s own id, for the listing of its instances (discovery); or the configured target when it could not be resolved to instances.';
COMMENT ON COLUMN export_health.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN export_health.instance_name IS 'Instance name; null when the target was not resolved.';
COMMENT ON COLUMN export_health.family IS 'flex or serverless, as of the last run; null when unknown.';
COMMENT ON COLUMN export_health.last_run_id IS 'The latest run that exported the target (export_runs.id).';
COMMENT ON COLUMN export_health.last_run_at IS 'When the target''s latest export ended (or started, while running).';
COMMENT ON COLUMN export_health.last_status IS 'Outcome of the latest export: running, succeeded, failed or interrupted.';
COMMENT ON COLUMN export_health.last_error_code IS 'errorCode of the latest export when it failed or was interrupted (INTERRUPTED); null after a success.';
COMMENT ON COLUMN export_health.last_error_detail IS 'Human-readable error of the latest export when it failed; never holds a secret.';
COMMENT ON COLUMN export_health.last_success_run_id IS 'The latest run in which the target succeeded; null when it never did.';
COMMENT ON COLUMN export_health.last_success_at IS 'When that successful export ended; null when it never succeeded.';
COMMENT ON COLUMN export_health.consecutive_failures IS
    'Failed exports of the target since its last success (all of them when it never succeeded); 0 when the latest succeeded. An interrupted export (a shutdown, a deploy) is not a failure of the target and is not counted.';
