CREATE TABLE export_runs (
    id              bigserial   PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    status          text        NOT NULL
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
    host            text,
    pid             integer,
    version         text,
    targets_total   integer     NOT NULL DEFAULT 0,
    targets_ok      integer     NOT NULL DEFAULT 0,
    targets_failed  integer     NOT NULL DEFAULT 0,
    pages           bigint      NOT NULL DEFAULT 0,
    requests        bigint      NOT NULL DEFAULT 0,
    retries         bigint      NOT NULL DEFAULT 0,
    seen            bigint      NOT NULL DEFAULT 0,
    created         bigint      NOT NULL DEFAULT 0,
    updated         bigint      NOT NULL DEFAULT 0,
    unchanged       bigint      NOT NULL DEFAULT 0,
    removed         bigint      NOT NULL DEFAULT 0,
    error           text
);

CREATE INDEX export_runs_running_idx ON export_runs (id) WHERE status = 'running';
CREATE INDEX export_runs_started_idx ON export_runs (started_at);

COMMENT ON TABLE export_runs IS 'One row per export run (exporter run, or one scheduled pass of exporter serve).';
COMMENT ON COLUMN export_runs.id IS 'Run id.';
COMMENT ON COLUMN export_runs.started_at IS 'When the run started.';
COMMENT ON COLUMN export_runs.finished_at IS 'When the run finished; null while running.';
COMMENT ON COLUMN export_runs.status IS
    'running, succeeded (every target ok), partial (some targets failed), failed, or interrupted (stopped, or its process died).';
COMMENT ON COLUMN export_runs.host IS 'Host name of the exporter process.';
COMMENT ON COLUMN export_runs.pid IS 'Process id of the exporter process.';
COMMENT ON COLUMN export_runs.version IS 'Exporter version.';
COMMENT ON COLUMN export_runs.targets_total IS 'Targets (instances) the run exported or tried to.';
COMMENT ON COLUMN export_runs.targets_ok IS 'Targets that succeeded.';
COMMENT ON COLUMN export_runs.targets_failed IS 'Targets that failed.';
COMMENT ON COLUMN export_runs.pages IS 'Snapshot listing pages read, all targets.';
COMMENT ON COLUMN export_runs.requests IS 'HTTP requests sent to Atlas, retries included.';
COMMENT ON COLUMN export_runs.retries IS 'Requests retried after 429, 5xx or network errors.';
COMMENT ON COLUMN export_runs.seen IS 'Distinct snapshots listed, all targets.';
COMMENT ON COLUMN export_runs.created IS 'Snapshots seen for the first time.';
COMMENT ON COLUMN export_runs.updated IS 'Snapshots whose attributes changed, or that reappeared.';
COMMENT ON COLUMN export_runs.unchanged IS 'Snapshots listed with nothing changed.';
COMMENT ON COLUMN export_runs.removed IS 'Snapshots confirmed gone and marked removed.';
COMMENT ON COLUMN export_runs.error IS 'Why the run failed, when it did; never holds a secret.';

CREATE TABLE export_run_targets (
    run_id          bigint      NOT NULL REFERENCES export_runs (id) ON DELETE CASCADE,
    target          text        NOT NULL,
    project_id      text        NOT NULL,
    instance_name   text,
    family          text        CHECK (family IN ('flex', 'serverless')),
    status          text        NOT NULL
        CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    pages           bigint      NOT NULL DEFAULT 0,
    requests        bigint      NOT NULL DEFAULT 0,
    retries         bigint      NOT NULL DEFAULT 0,
    seen            bigint      NOT NULL DEFAULT 0,
    created         bigint      NOT NULL DEFAULT 0,
    updated         bigint      NOT NULL DEFAULT 0,
    unchanged       bigint      NOT NULL DEFAULT 0,
    removed         bigint      NOT NULL DEFAULT 0,
    error_code      text,
    error_detail    text,
    started_at      timestamptz,
    finished_at     timestamptz,
    PRIMARY KEY (run_id, target)
);

CREATE INDEX export_run_targets_target_idx ON export_run_targets (target, run_id);

COMMENT ON TABLE export_run_targets IS 'One row per target of each run: its outcome and counts.';
COMMENT ON COLUMN export_run_targets.run_id IS 'The run (export_runs.id).';
COMMENT ON COLUMN export_run_targets.target IS
    'projectID/name of the instance, or the configured target when it could not be resolved to instances.';
COMMENT ON COLUMN export_run_targets.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN export_run_targets.instance_name IS 'Instance name; null when the target was not resolved.';
COMMENT ON COLUMN export_run_targets.family IS 'flex or serverless; null when unknown.';
COMMENT ON COLUMN export_run_targets.status IS 'running, succeeded, failed or interrupted.';
COMMENT ON COLUMN export_run_targets.pages IS 'Snapshot listing pages read.';
COMMENT ON COLUMN export_run_targets.requests IS 'HTTP requests sent to Atlas, retries included.';
COMMENT ON COLUMN export_run_targets.retries IS 'Requests retried.';
COMMENT ON COLUMN export_run_targets.seen IS 'Distinct snapshots listed.';
COMMENT ON COLUMN export_run_targets.created IS 'Snapshots seen for the first time.';
COMMENT ON COLUMN export_run_targets.updated IS 'Snapshots whose attributes changed, or that reappeared.';
COMMENT ON COLUMN export_run_targets.unchanged IS 'Snapshots listed with nothing changed.';
COMMENT ON COLUMN export_run_targets.removed IS 'Snapshots confirmed gone and marked removed.';
COMMENT ON COLUMN export_run_targets.error_code IS
    'Atlas errorCode (RATE_LIMITED, ...) or the exporter''s own (NETWORK, DECODE, DATABASE, ...); null on success.';
COMMENT ON COLUMN export_run_targets.error_detail IS 'Human-readable error; never holds a secret.';
COMMENT ON COLUMN export_run_targets.started_at IS 'When the target''s export started.';
COMMENT ON COLUMN export_run_targets.finished_at IS 'When it finished; null while running.';

ALTER TABLE snapshot_versions
    ADD CONSTRAINT snapshot_versions_run_id_fkey FOREIGN KEY (run_id) REFERENCES export_runs (id);
CREATE INDEX snapshot_versions_run_idx ON snapshot_versions (run_id);
