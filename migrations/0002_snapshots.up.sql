CREATE TABLE snapshots (
    id                  text        PRIMARY KEY,
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
    first_seen_at       timestamptz NOT NULL,
    last_seen_at        timestamptz NOT NULL,
    removed_at          timestamptz,
    version             integer     NOT NULL CHECK (version >= 1)
);

CREATE INDEX snapshots_live_instance_idx ON snapshots (project_id, instance_name)
    WHERE removed_at IS NULL;
CREATE INDEX snapshots_instance_taken_idx ON snapshots (project_id, instance_name, taken_at);
CREATE INDEX snapshots_expires_idx ON snapshots (expires_at) WHERE removed_at IS NULL;
CREATE INDEX snapshots_download_expires_idx ON snapshots (download_expires_at) WHERE removed_at IS NULL;

COMMENT ON TABLE snapshots IS
    'Current state of every backup snapshot ever seen; rows are never deleted (see removed_at).';
COMMENT ON COLUMN snapshots.id IS 'Atlas snapshot id.';
COMMENT ON COLUMN snapshots.project_id IS 'Atlas project (group) id of the instance.';
COMMENT ON COLUMN snapshots.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN snapshots.family IS 'API family the snapshot was listed from: flex or serverless.';
COMMENT ON COLUMN snapshots.status IS 'Status exactly as Atlas sent it (Flex PENDING..., Serverless queued...).';
COMMENT ON COLUMN snapshots.state IS
    'Status normalised across families: pending, queued, in_progress, completed or failed; null when unknown.';
COMMENT ON COLUMN snapshots.taken_at IS 'When the snapshot was taken: Serverless createdAt; Flex startTime, else scheduledTime.';
COMMENT ON COLUMN snapshots.finished_at IS 'When the snapshot finished (Flex finishTime).';
COMMENT ON COLUMN snapshots.expires_at IS 'Retention expiry: when Atlas deletes the snapshot (Serverless expiresAt).';
COMMENT ON COLUMN snapshots.download_expires_at IS 'When the download link stops working (Flex expiration).';
COMMENT ON COLUMN snapshots.frequency_type IS 'hourly, daily, weekly or monthly (Serverless only).';
COMMENT ON COLUMN snapshots.snapshot_type IS 'onDemand or scheduled (Serverless only).';
COMMENT ON COLUMN snapshots.storage_size_bytes IS 'Stored size in bytes (Serverless only).';
COMMENT ON COLUMN snapshots.mongodb_version IS 'MongoDB version the snapshot was taken with.';
COMMENT ON COLUMN snapshots.raw IS 'The snapshot object exactly as Atlas sent it; fields added upstream are kept here.';
COMMENT ON COLUMN snapshots.first_seen_at IS 'When the exporter first saw the snapshot.';
COMMENT ON COLUMN snapshots.last_seen_at IS
    'When the listing that produced the current version was taken. Not touched by unchanged reruns: a live snapshot was still listed at instances.last_listed_at.';
COMMENT ON COLUMN snapshots.removed_at IS
    'When a complete listing no longer contained the snapshot and its removal was confirmed; null while live.';
COMMENT ON COLUMN snapshots.version IS 'Number of the current row in snapshot_versions.';
