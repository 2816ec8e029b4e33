-- What the reporting views (sql/) need to answer quickly over millions of rows: indexes on
-- snapshots, and instance_storage_changes, a per-instance, per-UTC-day summary of
-- snapshot_versions that triggers keep in step with every write to it.

CREATE INDEX snapshots_completed_taken_idx ON snapshots (project_id, instance_name, taken_at)
    WHERE state = 'completed';
CREATE INDEX snapshots_failed_taken_idx ON snapshots (project_id, instance_name, taken_at)
    WHERE state = 'failed';
CREATE INDEX snapshots_flex_removed_idx ON snapshots (project_id, instance_name, removed_at)
    INCLUDE (taken_at)
    WHERE family = 'flex' AND state = 'completed' AND removed_at IS NOT NULL;

CREATE TABLE instance_storage_changes (
    project_id    text    NOT NULL,
    instance_name text    NOT NULL,
    day           date    NOT NULL,
    live_change   bigint  NOT NULL,
    bytes_change  numeric NOT NULL,
    -- The changes are read in key order with an index-only scan: no sort, no heap visits.
    PRIMARY KEY (project_id, instance_name, day) INCLUDE (live_change, bytes_change)
);

COMMENT ON TABLE instance_storage_changes IS
    'Derived from snapshot_versions by triggers, for instance_storage_daily and instance_growth: per instance and UTC day, how the live snapshot count and stored bytes changed. Query the views, not this table.';
COMMENT ON COLUMN instance_storage_changes.project_id IS 'Atlas project (group) id.';
COMMENT ON COLUMN instance_storage_changes.instance_name IS 'Flex cluster or Serverless instance name.';
COMMENT ON COLUMN instance_storage_changes.day IS 'Calendar day in UTC.';
COMMENT ON COLUMN instance_storage_changes.live_change IS
    'Live (not removed) snapshot versions that began that day minus those that ended that day.';
COMMENT ON COLUMN instance_storage_changes.bytes_change IS
    'storage_size_bytes of the live versions that began that day minus those that ended that day; null sizes count as 0.';

-- track_storage_changes folds the versions a statement wrote into instance_storage_changes. A
-- live version (change other than removed) adds one snapshot and its bytes on the UTC day of
-- valid_from and takes them away on the UTC day of valid_to; an update takes away what the old
-- row contributed and adds what the new one does; a delete takes away.
CREATE FUNCTION track_storage_changes() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO instance_storage_changes AS c (project_id, instance_name, day, live_change, bytes_change)
        SELECT v.project_id, v.instance_name, e.day, sum(v.sign * e.live), sum(v.sign * e.bytes)
        FROM (SELECT project_id, instance_name, change, valid_from, valid_to, storage_size_bytes, 1 AS sign FROM new_versions) AS v
        CROSS JOIN LATERAL (VALUES
            ((v.valid_from AT TIME ZONE 'UTC')::date, 1, coalesce(v.storage_size_bytes, 0)::numeric),
            ((v.valid_to AT TIME ZONE 'UTC')::date, -1, -coalesce(v.storage_size_bytes, 0)::numeric)
        ) AS e (day, live, bytes)
        WHERE v.change <> 'removed' AND e.day IS NOT NULL
        GROUP BY v.project_id, v.instance_name, e.day
        HAVING sum(v.sign * e.live) <> 0 OR sum(v.sign * e.bytes) <> 0
        ON CONFLICT (project_id, instance_name, day) DO UPDATE
            SET live_change = c.live_change + EXCLUDED.live_change,
                bytes_change = c.bytes_change + EXCLUDED.bytes_change;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO instance_storage_changes AS c (project_id, instance_name, day, live_change, bytes_change)
        SELECT v.project_id, v.instance_name, e.day, sum(v.sign * e.live), sum(v.sign * e.bytes)
        FROM (SELECT project_id, instance_name, change, valid_from, valid_to, storage_size_bytes, 1 AS sign FROM new_versions
            UNION ALL
            SELECT project_id, instance_name, change, valid_from, valid_to, storage_size_bytes, -1 AS sign FROM old_versions) AS v
        CROSS JOIN LATERAL (VALUES
            ((v.valid_from AT TIME ZONE 'UTC')::date, 1, coalesce(v.storage_size_bytes, 0)::numeric),
            ((v.valid_to AT TIME ZONE 'UTC')::date, -1, -coalesce(v.storage_size_bytes, 0)::numeric)
        ) AS e (day, live, bytes)
        WHERE v.change <> 'removed' AND e.day IS NOT NULL
        GROUP BY v.project_id, v.instance_name, e.day
        HAVING sum(v.sign * e.live) <> 0 OR sum(v.sign * e.bytes) <> 0
        ON CONFLICT (project_id, instance_name, day) DO UPDATE
            SET live_change = c.live_change + EXCLUDED.live_change,
                bytes_change = c.bytes_change + EXCLUDED.bytes_change;
    ELSE
        INSERT INTO instance_storage_changes AS c (project_id, instance_name, day, live_change, bytes_change)
        SELECT v.project_id, v.instance_name, e.day, sum(v.sign * e.live), sum(v.sign * e.bytes)
        FROM (SELECT project_id, instance_name, change, valid_from, valid_to, storage_size_bytes, -1 AS sign FROM old_versions) AS v
        CROSS JOIN LATERAL (VALUES
            ((v.valid_from AT TIME ZONE 'UTC')::date, 1, coalesce(v.storage_size_bytes, 0)::numeric),
            ((v.valid_to AT TIME ZONE 'UTC')::date, -1, -coalesce(v.storage_size_bytes, 0)::numeric)
        ) AS e (day, live, bytes)
        WHERE v.change <> 'removed' AND e.day IS NOT NULL
        GROUP BY v.project_id, v.instance_name, e.day
        HAVING sum(v.sign * e.live) <> 0 OR sum(v.sign * e.bytes) <> 0
        ON CONFLICT (project_id, instance_name, day) DO UPDATE
            SET live_change = c.live_change + EXCLUDED.live_change,
                bytes_change = c.bytes_change + EXCLUDED.bytes_change;
    END IF;

    RETURN NULL;
END
$$;

COMMENT ON FUNCTION track_storage_changes() IS
    'Statement trigger on snapshot_versions: folds the inserted, updated or deleted versions into instance_storage_changes.';

CREATE TRIGGER snapshot_versions_storage_insert
    AFTER INSERT ON snapshot_versions
    REFERENCING NEW TABLE AS new_versions
    FOR EACH STATEMENT EXECUTE FUNCTION track_storage_changes();
CREATE TRIGGER snapshot_versions_storage_update
    AFTER UPDATE ON snapshot_versions
    REFERENCING OLD TABLE AS old_versions NEW TABLE AS new_versions
    FOR EACH STATEMENT EXECUTE FUNCTION track_storage_changes();
CREATE TRIGGER snapshot_versions_storage_delete
    AFTER DELETE ON snapshot_versions
    REFERENCING OLD TABLE AS old_versions
    FOR EACH STATEMENT EXECUTE FUNCTION track_storage_changes();

-- History written before this migration.
INSERT INTO instance_storage_changes (project_id, instance_name, day, live_change, bytes_change)
SELECT e.project_id, e.instance_name, e.day, sum(e.live), sum(e.bytes)
FROM (
    SELECT v.project_id, v.instance_name, (v.valid_from AT TIME ZONE 'UTC')::date AS day,
        1 AS live, coalesce(v.storage_size_bytes, 0)::numeric AS bytes
    FROM snapshot_versions AS v
    WHERE v.change <> 'removed'
    UNION ALL
    SELECT v.project_id, v.instance_name, (v.valid_to AT TIME ZONE 'UTC')::date,
        -1, -coalesce(v.storage_size_bytes, 0)::numeric
    FROM snapshot_versions AS v
    WHERE v.change <> 'removed' AND v.valid_to IS NOT NULL
) AS e
GROUP BY e.project_id, e.instance_name, e.day;
