-- snapshot_expiry: live snapshots with their expiry and the time left.
-- Grain: one row per live (not removed) snapshot.
CREATE OR REPLACE VIEW snapshot_expiry AS
SELECT
    s.id                           AS snapshot_id,
    s.project_id,
    s.instance_name,
    s.family,
    s.state,
    s.taken_at,
    s.expires_at,
    s.download_expires_at,
    s.expires_at - now()           AS expires_in,
    s.download_expires_at - now()  AS download_expires_in
FROM snapshots AS s
WHERE s.removed_at IS NULL;

COMMENT ON VIEW snapshot_expiry IS
    'Live snapshots with their retention expiry, download-link expiry and the time left; one row per live snapshot.';
COMMENT ON COLUMN snapshot_expiry.snapshot_id IS 'Atlas snapshot id.';
COMMENT ON COLUMN snapshot_expiry.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN snapshot_expiry.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN snapshot_expiry.family IS 'flex or serverless.';
COMMENT ON COLUMN snapshot_expiry.state IS 'Normalised status: pending, queued, in_progress, completed or failed.';
COMMENT ON COLUMN snapshot_expiry.taken_at IS 'When the snapshot was taken.';
COMMENT ON COLUMN snapshot_expiry.expires_at IS 'Retention expiry: when Atlas deletes it (Serverless); null for Flex.';
COMMENT ON COLUMN snapshot_expiry.download_expires_at IS 'When the download link stops working (Flex); null for Serverless.';
COMMENT ON COLUMN snapshot_expiry.expires_in IS 'Time left until expires_at as of the query; negative once past.';
COMMENT ON COLUMN snapshot_expiry.download_expires_in IS 'Time left until download_expires_at as of the query; negative once past.';
