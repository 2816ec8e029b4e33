CREATE TABLE snapshot_versions (
    id                  text        NOT NULL,
    version             integer     NOT NULL CHECK (version >= 1),
    project_id          text        NOT NULL,
    instance_name       text        NOT NULL,
    family              text        NOT NULL CHECK (family IN ('flex', 'serverless')),
    status              text,
    state               text        CHECK (state IN ('pending', 'queued', 'in_progress', 'completed', 'failed')),
    taken_at            timestamptz,
    finished_at         timestamptz,
    expires_at          timestamptz,
    download_expires_at timestamptz,
    frequency_type      text,
    snapshot_type       text,
    storage_size_bytes  bigint,
    mongodb_version     text,
    raw                 jsonb       NOT NULL,
    valid_from          timestamptz NOT NULL,
    valid_to            timestamptz,
    change              text        NOT NULL CHECK (change IN ('created', 'updated', 'removed')),
    run_id              bigint,
    PRIMARY KEY (id, version)
);

CREATE UNIQUE INDEX snapshot_versions_current_idx ON snapshot_versions (id) WHERE valid_to IS NULL;
CREATE INDEX snapshot_versions_instance_idx ON snapshot_versions (project_id, instance_name, valid_from);

COMMENT ON TABLE snapshot_versions IS
    'History: one row per distinct version of a snapshot. An unchanged rerun adds nothing.';
COMMENT ON COLUMN snapshot_versions.id IS 'Atlas snapshot id (snapshots.id).';
COMMENT ON COLUMN snapshot_versions.version IS 'Version number, from 1, one more per change.';
COMMENT ON COLUMN snapshot_versions.project_id IS 'Atlas project (group) id of the instance.';
COMMENT ON COLUMN snapshot_versions.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN snapshot_versions.family IS 'API family the snapshot was listed from: flex or serverless.';
COMMENT ON COLUMN snapshot_versions.status IS 'Status exactly as Atlas sent it.';
COMMENT ON COLUMN snapshot_versions.state IS 'Normalised status: pending, queued, in_progress, completed or failed.';
COMMENT ON COLUMN snapshot_versions.taken_at IS 'When the snapshot was taken.';
COMMENT ON COLUMN snapshot_versions.finished_at IS 'When the snapshot finished (Flex).';
COMMENT ON COLUMN snapshot_versions.expires_at IS 'Retention expiry (Serverless).';
COMMENT ON COLUMN snapshot_versions.download_expires_at IS 'When the download link stops working (Flex).';
COMMENT ON COLUMN snapshot_versions.frequency_type IS 'hourly, daily, weekly or monthly (Serverless only).';
COMMENT ON COLUMN snapshot_versions.snapshot_type IS 'onDemand or scheduled (Serverless only).';
COMMENT ON COLUMN snapshot_versions.storage_size_bytes IS 'Stored size in bytes (Serverless only).';
COMMENT ON COLUMN snapshot_versions.mongodb_version IS 'MongoDB version the snapshot was taken with.';
COMMENT ON COLUMN snapshot_versions.raw IS 'The snapshot object exactly as Atlas sent it in this version.';
COMMENT ON COLUMN snapshot_versions.valid_from IS 'When the listing that produced this version was taken.';
COMMENT ON COLUMN snapshot_versions.valid_to IS 'When the next version replaced this one; null while current.';
COMMENT ON COLUMN snapshot_versions.change IS
    'What produced this version: created (first seen), updated (attributes changed or reappeared), removed (left the listing).';
COMMENT ON COLUMN snapshot_versions.run_id IS 'The export run (export_runs.id) that wrote this version.';
