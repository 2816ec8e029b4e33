ALTER TABLE snapshot_versions
    ADD CONSTRAINT snapshot_versions_run_id_fkey FOREIGN KEY (run_id) REFERENCES export_runs (id);

COMMENT ON COLUMN snapshot_versions.run_id IS 'The export run (export_runs.id) that wrote this version.';
