-- snapshot_versions.run_id loses its foreign key. Every version row written checked its run
-- with a FOR KEY SHARE lock on that export_runs row: a million row locks on one row in a first
-- export of a million snapshots, taken by every concurrent target transaction at once, which
-- turns the lock into a MultiXact. The exporter writes run_id only from the run it is in;
-- the index stays, and a version whose run was deleted keeps its run_id as a plain number.

ALTER TABLE snapshot_versions DROP CONSTRAINT IF EXISTS snapshot_versions_run_id_fkey;

COMMENT ON COLUMN snapshot_versions.run_id IS
    'The export run (export_runs.id) that wrote this version; not a foreign key, so it may outlive its run.';
