ALTER TABLE snapshot_versions DROP CONSTRAINT IF EXISTS snapshot_versions_run_id_fkey;
DROP INDEX IF EXISTS snapshot_versions_run_idx;
DROP TABLE IF EXISTS export_run_targets CASCADE;
DROP TABLE IF EXISTS export_runs CASCADE;
