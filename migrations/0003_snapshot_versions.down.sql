DROP TABLE IF EXISTS snapshot_versions CASCADE;
