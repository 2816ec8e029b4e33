-- Builds the reporting views' benchmark data set with set-based SQL: 5,000 instances (one in
-- four Serverless), 200 snapshots each (1,000,000 in all) taken every 10.8 hours over 90 days,
-- their history in snapshot_versions, and an export run every hour with one row per instance
-- (2,160 runs, 10,800,000 target rows). Run by scripts/bench-views on a freshly migrated,
-- empty database; search_path must be the exporter's schema.
\set ON_ERROR_STOP on

CREATE TEMP TABLE bench_clock AS
SELECT date_trunc('hour', now()) AS t_now;

INSERT INTO instances (project_id, name, family, state, mongodb_version, backup_enabled, raw,
    first_seen_at, last_listed_at, updated_at)
SELECT
    substr(md5('project-' || ((i - 1) / 10)), 1, 24),
    'inst-' || lpad(i::text, 4, '0'),
    CASE WHEN i % 4 = 0 THEN 'serverless' ELSE 'flex' END,
    'IDLE', '8.0.4', true, '{}',
    c.t_now - interval '90 days', c.t_now - interval '20 minutes', c.t_now - interval '90 days'
FROM generate_series(1, 5000) AS i, bench_clock AS c;

-- One row per snapshot with everything its versions need. Flex snapshots leave the listing
-- eight days after being taken; Serverless ones at their 14-day expiry. Serverless snapshots
-- are first seen in progress at half their final size, then completed.
CREATE TEMP TABLE bench_snap AS
SELECT
    lpad(to_hex(i::bigint * 1000 + k), 24, '0')                 AS id,
    substr(md5('project-' || ((i - 1) / 10)), 1, 24)            AS project_id,
    'inst-' || lpad(i::text, 4, '0')                            AS instance_name,
    CASE WHEN i % 4 = 0 THEN 'serverless' ELSE 'flex' END       AS family,
    CASE WHEN (i + k) % 53 = 0 THEN 'failed' ELSE 'completed' END AS state,
    t.taken_at,
    CASE WHEN i % 4 = 0 THEN t.taken_at + interval '14 days' END AS expires_at,
    CASE WHEN i % 4 = 0 THEN NULL ELSE t.taken_at + interval '8 days' END AS download_expires_at,
    CASE WHEN i % 4 = 0 THEN 1000000000 + i * 100000 + k * 20000000::bigint END AS bytes,
    CASE
        WHEN t.taken_at + interval '8 days 40 minutes' < c.t_now AND i % 4 <> 0
            THEN t.taken_at + interval '8 days 40 minutes'
        WHEN t.taken_at + interval '14 days 40 minutes' < c.t_now AND i % 4 = 0
            THEN t.taken_at + interval '14 days 40 minutes'
    END                                                         AS removed_at
FROM generate_series(1, 5000) AS i
CROSS JOIN generate_series(0, 199) AS k
CROSS JOIN bench_clock AS c
CROSS JOIN LATERAL (
    SELECT c.t_now - interval '90 days' + k * interval '648 minutes' + (i % 600) * interval '1 minute' AS taken_at
) AS t;

INSERT INTO snapshots (id, project_id, instance_name, family, status, state, taken_at, finished_at,
    expires_at, download_expires_at, frequency_type, snapshot_type, storage_size_bytes,
    mongodb_version, raw, first_seen_at, last_seen_at, removed_at, version)
SELECT
    b.id, b.project_id, b.instance_name, b.family, upper(b.state), b.state, b.taken_at,
    b.taken_at + interval '5 minutes', b.expires_at, b.download_expires_at,
    CASE WHEN b.family = 'serverless' THEN 'daily' END,
    CASE WHEN b.family = 'serverless' THEN 'scheduled' END,
    b.bytes, '8.0.4', jsonb_build_object('id', b.id),
    b.taken_at + interval '20 minutes',
    b.taken_at + CASE WHEN b.family = 'serverless' THEN interval '80 minutes' ELSE interval '20 minutes' END,
    b.removed_at,
    1 + (b.family = 'serverless')::integer + (b.removed_at IS NOT NULL)::integer
FROM bench_snap AS b;

-- Version 1: created (Serverless: in progress, half size).
INSERT INTO snapshot_versions (id, version, project_id, instance_name, family, status, state,
    taken_at, expires_at, download_expires_at, storage_size_bytes, mongodb_version, raw,
    valid_from, valid_to, change)
SELECT
    b.id, 1, b.project_id, b.instance_name, b.family,
    CASE WHEN b.family = 'serverless' THEN 'IN_PROGRESS' ELSE upper(b.state) END,
    CASE WHEN b.family = 'serverless' THEN 'in_progress' ELSE b.state END,
    b.taken_at, b.expires_at, b.download_expires_at, b.bytes / 2, '8.0.4', jsonb_build_object('id', b.id),
    b.taken_at + interval '20 minutes',
    CASE WHEN b.family = 'serverless' THEN b.taken_at + interval '80 minutes' ELSE b.removed_at END,
    'created'
FROM bench_snap AS b;

-- Version 2 (Serverless): completed at full size.
INSERT INTO snapshot_versions (id, version, project_id, instance_name, family, status, state,
    taken_at, expires_at, download_expires_at, storage_size_bytes, mongodb_version, raw,
    valid_from, valid_to, change)
SELECT
    b.id, 2, b.project_id, b.instance_name, b.family, upper(b.state), b.state,
    b.taken_at, b.expires_at, b.download_expires_at, b.bytes, '8.0.4', jsonb_build_object('id', b.id),
    b.taken_at + interval '80 minutes', b.removed_at, 'updated'
FROM bench_snap AS b
WHERE b.family = 'serverless';

-- Last version of every removed snapshot.
INSERT INTO snapshot_versions (id, version, project_id, instance_name, family, status, state,
    taken_at, expires_at, download_expires_at, storage_size_bytes, mongodb_version, raw,
    valid_from, valid_to, change)
SELECT
    b.id, 2 + (b.family = 'serverless')::integer, b.project_id, b.instance_name, b.family,
    upper(b.state), b.state, b.taken_at, b.expires_at, b.download_expires_at, b.bytes, '8.0.4',
    jsonb_build_object('id', b.id), b.removed_at, NULL, 'removed'
FROM bench_snap AS b
WHERE b.removed_at IS NOT NULL;

-- An export run every hour. Every 251st instance has failed for the last six runs; a few other
-- targets fail now and then.
INSERT INTO export_runs (id, started_at, finished_at, status, host, pid, version,
    targets_total, targets_ok, targets_failed)
SELECT
    r + 1, c.t_now - interval '90 days' + r * interval '1 hour',
    c.t_now - interval '90 days' + r * interval '1 hour' + interval '3 minutes',
    'partial', 'bench', 1, 'bench', 5000, 4990, 10
FROM generate_series(0, 2159) AS r, bench_clock AS c;

SELECT setval(pg_get_serial_sequence('export_runs', 'id'), 2160) \g /dev/null

-- The secondary index is built once after the load rather than row by row during it.
DROP INDEX export_run_targets_target_idx;

INSERT INTO export_run_targets (run_id, target, project_id, instance_name, family, status,
    pages, requests, seen, unchanged, error_code, error_detail, started_at, finished_at)
SELECT
    r + 1,
    substr(md5('project-' || ((i - 1) / 10)), 1, 24) || '/inst-' || lpad(i::text, 4, '0'),
    substr(md5('project-' || ((i - 1) / 10)), 1, 24),
    'inst-' || lpad(i::text, 4, '0'),
    CASE WHEN i % 4 = 0 THEN 'serverless' ELSE 'flex' END,
    f.status, 1, 1, 20, 20,
    CASE WHEN f.status = 'failed' THEN 'RATE_LIMITED' END,
    CASE WHEN f.status = 'failed' THEN 'status 429' END,
    c.t_now - interval '90 days' + r * interval '1 hour' + interval '1 minute',
    c.t_now - interval '90 days' + r * interval '1 hour' + interval '2 minutes'
FROM generate_series(0, 2159) AS r
CROSS JOIN generate_series(1, 5000) AS i
CROSS JOIN bench_clock AS c
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN i % 251 = 0 AND r >= 2154 THEN 'failed'
        WHEN (r * 7 + i) % 997 = 0 THEN 'failed'
        ELSE 'succeeded'
    END AS status
) AS f;

CREATE INDEX export_run_targets_target_idx ON export_run_targets (target, run_id);
