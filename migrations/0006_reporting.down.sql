DROP TRIGGER IF EXISTS snapshot_versions_storage_insert ON snapshot_versions;
DROP TRIGGER IF EXISTS snapshot_versions_storage_update ON snapshot_versions;
DROP TRIGGER IF EXISTS snapshot_versions_storage_delete ON snapshot_versions;
DROP FUNCTION IF EXISTS track_storage_changes();
DROP FUNCTION IF EXISTS storage_changes_of(snapshot_versions[], integer);
DROP TABLE IF EXISTS instance_storage_changes CASCADE;
DROP INDEX IF EXISTS snapshots_flex_removed_idx;
DROP INDEX IF EXISTS snapshots_failed_taken_idx;
DROP INDEX IF EXISTS snapshots_completed_taken_idx;
