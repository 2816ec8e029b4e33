-- snapshot_expiry: every live snapshot with the date it expires, the time left, and where that
-- date came from.
-- Grain: one row per live (not removed) snapshot. Times are instants (timestamptz), so the
-- session time zone changes how they print, never what they are.
--
-- Serverless snapshots carry their retention expiry (expires_at). Flex only says when its
-- download link stops working, so for Flex the expiry is estimated from the history: the median
-- time that the instance's last 20 removed, completed Flex snapshots lived between being taken
-- and leaving the listing.
DROP VIEW IF EXISTS snapshot_expiry CASCADE;

CREATE VIEW snapshot_expiry AS
WITH flex_retention AS (
    SELECT
        i.project_id,
        i.name                         AS instance_name,
        r.retention,
        r.sample
    FROM instances AS i
    CROSS JOIN LATERAL (
        SELECT
            percentile_cont(0.5) WITHIN GROUP (ORDER BY recent.lived) AS retention,
            count(*)::integer                                         AS sample
        FROM (
            SELECT x.removed_at - x.taken_at AS lived
            FROM snapshots AS x
            WHERE x.project_id = i.project_id
              AND x.instance_name = i.name
              AND x.family = 'flex'
              AND x.state = 'completed'
              AND x.removed_at IS NOT NULL
              AND x.taken_at IS NOT NULL
            ORDER BY x.removed_at DESC
            LIMIT 20
        ) AS recent
    ) AS r
),
expiry AS (
    SELECT
        s.id,
        s.project_id,
        s.instance_name,
        s.family,
        s.state,
        s.taken_at,
        s.download_expires_at,
        fr.retention,
        fr.sample,
        CASE
            WHEN s.expires_at IS NOT NULL THEN s.expires_at
            WHEN s.family = 'flex' THEN s.taken_at + fr.retention
        END AS expires_at,
        CASE
            WHEN s.expires_at IS NOT NULL THEN 'atlas'
            WHEN s.family = 'flex' AND s.taken_at IS NOT NULL AND fr.retention IS NOT NULL THEN 'observed'
            ELSE 'none'
        END AS expiry_source
    FROM snapshots AS s
    LEFT JOIN flex_retention AS fr
        ON fr.project_id = s.project_id AND fr.instance_name = s.instance_name AND s.family = 'flex'
    WHERE s.removed_at IS NULL
)
SELECT
    e.id                    AS snapshot_id,
    e.project_id,
    e.instance_name,
    e.family,
    e.state,
    e.taken_at,
    e.expires_at,
    e.expires_at - now()    AS time_left,
    e.expiry_source,
    e.retention             AS observed_retention,
    e.sample                AS retention_sample,
    e.download_expires_at
FROM expiry AS e;

COMMENT ON VIEW snapshot_expiry IS
    'Live snapshots with their expiry, the time left and where the expiry came from. Grain: one row per live (not removed) snapshot. Times are UTC instants; time_left is measured from the query''s now().';
COMMENT ON COLUMN snapshot_expiry.snapshot_id IS 'Atlas snapshot id (snapshots.id).';
COMMENT ON COLUMN snapshot_expiry.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN snapshot_expiry.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN snapshot_expiry.family IS 'API family of the snapshot: flex or serverless.';
COMMENT ON COLUMN snapshot_expiry.state IS 'Normalised status: pending, queued, in_progress, completed or failed.';
COMMENT ON COLUMN snapshot_expiry.taken_at IS 'When the snapshot was taken (UTC instant).';
COMMENT ON COLUMN snapshot_expiry.expires_at IS
    'When the snapshot is expected to be deleted (UTC instant): Atlas''s retention expiry when it sends one (expiry_source atlas), else taken_at + observed_retention (observed); null when neither is known (none).';
COMMENT ON COLUMN snapshot_expiry.time_left IS
    'expires_at minus now() as an interval; negative once past, null when expires_at is null.';
COMMENT ON COLUMN snapshot_expiry.expiry_source IS
    'Where expires_at came from: atlas (sent by Atlas, Serverless), observed (estimated from how long this instance''s Flex snapshots lived), or none.';
COMMENT ON COLUMN snapshot_expiry.observed_retention IS
    'Flex only: median time from taken_at to removal over the instance''s last 20 removed completed Flex snapshots, as an interval; null without such history.';
COMMENT ON COLUMN snapshot_expiry.retention_sample IS
    'Flex only: how many removed snapshots observed_retention was computed from (0 to 20).';
COMMENT ON COLUMN snapshot_expiry.download_expires_at IS
    'Flex only: when the download link stops working (UTC instant), as Atlas sends it; not a retention date.';
