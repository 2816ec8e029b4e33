-- snapshot_failures: every failed snapshot with its instance and time.
-- Grain: one row per snapshot whose current state is failed, removed ones included (removed_at
-- says so). Times are UTC instants.
DROP VIEW IF EXISTS snapshot_failures CASCADE;

CREATE VIEW snapshot_failures AS
SELECT
    s.id              AS snapshot_id,
    s.project_id,
    s.instance_name,
    s.family,
    s.status,
    s.taken_at,
    s.finished_at,
    s.first_seen_at,
    s.removed_at,
    s.mongodb_version
FROM snapshots AS s
WHERE s.state = 'failed';

COMMENT ON VIEW snapshot_failures IS
    'Failed snapshots with their instance and times. Grain: one row per snapshot whose current state is failed, removed or not. Times are UTC instants.';
COMMENT ON COLUMN snapshot_failures.snapshot_id IS 'Atlas snapshot id (snapshots.id).';
COMMENT ON COLUMN snapshot_failures.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN snapshot_failures.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN snapshot_failures.family IS 'API family of the snapshot: flex or serverless.';
COMMENT ON COLUMN snapshot_failures.status IS 'Status exactly as Atlas sent it (FAILED, failed).';
COMMENT ON COLUMN snapshot_failures.taken_at IS 'When the snapshot was taken or scheduled (UTC instant).';
COMMENT ON COLUMN snapshot_failures.finished_at IS 'When it finished, when Atlas says (Flex only; UTC instant).';
COMMENT ON COLUMN snapshot_failures.first_seen_at IS 'When the exporter first saw the snapshot (UTC instant).';
COMMENT ON COLUMN snapshot_failures.removed_at IS 'When it left the listing (UTC instant); null while Atlas still lists it.';
COMMENT ON COLUMN snapshot_failures.mongodb_version IS 'MongoDB version the snapshot was taken with.';
