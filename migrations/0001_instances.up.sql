CREATE TABLE instances (
    project_id      text        NOT NULL,
    name            text        NOT NULL,
    family          text        NOT NULL CHECK (family IN ('flex', 'serverless')),
    state           text,
    mongodb_version text,
    backup_enabled  boolean,
    raw             jsonb,
    first_seen_at   timestamptz NOT NULL,
    last_listed_at  timestamptz,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (project_id, name)
);

COMMENT ON TABLE instances IS
    'One row per Atlas Flex cluster or Serverless instance whose snapshots are exported.';
COMMENT ON COLUMN instances.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN instances.name IS 'Instance name, unique within the project.';
COMMENT ON COLUMN instances.family IS 'API family serving its snapshots: flex or serverless.';
COMMENT ON COLUMN instances.state IS 'State as last discovered (IDLE, CREATING, ...); null when never discovered.';
COMMENT ON COLUMN instances.mongodb_version IS 'MongoDB version as last discovered.';
COMMENT ON COLUMN instances.backup_enabled IS 'Whether Atlas reports backups enabled; null when unknown.';
COMMENT ON COLUMN instances.raw IS 'The instance object exactly as Atlas last sent it.';
COMMENT ON COLUMN instances.first_seen_at IS 'When the exporter first saw the instance.';
COMMENT ON COLUMN instances.last_listed_at IS
    'When the exporter last merged a complete listing of its snapshots: every live snapshot was still listed then.';
COMMENT ON COLUMN instances.updated_at IS 'When a discovered attribute last changed.';
