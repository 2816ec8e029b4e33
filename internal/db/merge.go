package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The attribute columns shared by snapshots, snapshot_versions and the
// staging table, under the aliases the merge statements use: s for
// snapshots, g for the staged listing.
const (
	attrColumns = `project_id, instance_name, family, status, state,
    taken_at, finished_at, expires_at, download_expires_at,
    frequency_type, snapshot_type, storage_size_bytes, mongodb_version, raw`
	sAttrs = `s.project_id, s.instance_name, s.family, s.status, s.state,
    s.taken_at, s.finished_at, s.expires_at, s.download_expires_at,
    s.frequency_type, s.snapshot_type, s.storage_size_bytes, s.mongodb_version, s.raw`
	gAttrs = `g.project_id, g.instance_name, g.family, g.status, g.state,
    g.taken_at, g.finished_at, g.expires_at, g.download_expires_at,
    g.frequency_type, g.snapshot_type, g.storage_size_bytes, g.mongodb_version, g.raw`
	setFromStage = `project_id = g.project_id, instance_name = g.instance_name, family = g.family,
    status = g.status, state = g.state,
    taken_at = g.taken_at, finished_at = g.finished_at,
    expires_at = g.expires_at, download_expires_at = g.download_expires_at,
    frequency_type = g.frequency_type, snapshot_type = g.snapshot_type,
    storage_size_bytes = g.storage_size_bytes, mongodb_version = g.mongodb_version, raw = g.raw`

	// stagedChanged selects, in a join of snapshots s with the stage g, the
	// snapshots that need a new version: an attribute or the raw JSON differs
	// (jsonb compares by value, so key order does not count), or the
	// snapshot had been removed and is listed again.
	stagedChanged = `(s.removed_at IS NOT NULL OR (` + sAttrs + `) IS DISTINCT FROM (` + gAttrs + `))`

	// confirmedGone selects the live snapshots of the instance ($3, $4)
	// among the confirmed removals ($2) that the stage does not hold.
	confirmedGone = `s.id = ANY($2) AND s.project_id = $3 AND s.instance_name = $4 AND s.removed_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_temp.` + stageTable + ` AS g WHERE g.id = s.id)`
)

// Merge folds the staged listing into snapshots and snapshot_versions with a
// few set-based statements, and records the complete listing on the
// instance. Rows that did not change are not touched, so an unchanged rerun
// writes nothing to either table. It may be called once per TargetTx.
func (t *TargetTx) Merge(ctx context.Context, p MergeParams) (MergeResult, error) {
	if t.merged || t.done {
		return MergeResult{}, errors.New("merge: target transaction already merged or ended")
	}

	t.merged = true

	res, err := t.merge(ctx, p)
	if err != nil {
		return MergeResult{}, fmt.Errorf("merge %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	return res, nil
}

// merge runs the steps in an order that lets each touch as few rows as it
// can: removals first, while the stage still holds the whole listing; then
// the unchanged snapshots leave the stage, so that updates and inserts see
// only the rows that need them (none at all on an unchanged rerun). Updates
// come before inserts: the stored ids left in the stage are then exactly the
// changed ones, and a first export (nothing stored) skips them.
func (t *TargetTx) merge(ctx context.Context, p MergeParams) (MergeResult, error) {
	var res MergeResult
	var err error

	var stored bool
	if res.Seen, stored, err = t.foldStage(ctx, p); err != nil {
		return res, err
	}

	if res.Removed, err = t.markRemoved(ctx, p); err != nil {
		return res, err
	}

	pending, err := t.pruneUnchanged(ctx, res.Seen, stored)
	if err != nil {
		return res, err
	}

	if pending > 0 && stored {
		if res.Updated, err = t.updateChanged(ctx, p); err != nil {
			return res, err
		}
	}

	if pending > res.Updated {
		if res.Created, err = t.insertNew(ctx, p, stored); err != nil {
			return res, err
		}
	}

	res.Unchanged = res.Seen - res.Created - res.Updated

	return res, nil
}

// foldStage keeps only the last arrival of each id (offset paging can list
// one twice), counts what is left, tells whether the instance has any
// snapshot stored, and records the complete listing on the instance: one
// round trip. The stage is not analyzed: every merge
// statement drives from it into an index of the stored tables.
func (t *TargetTx) foldStage(ctx context.Context, p MergeParams) (int, bool, error) {
	const (
		fold = `DELETE FROM pg_temp.` + stageTable + ` AS a
USING pg_temp.` + stageTable + ` AS b
WHERE a.id = b.id AND a.ord < b.ord`
		count  = `SELECT count(*) FROM pg_temp.` + stageTable
		stored = `SELECT EXISTS (SELECT 1 FROM snapshots WHERE project_id = $1 AND instance_name = $2)`
	)

	b := &pgx.Batch{}
	b.Queue(fold)
	b.Queue(count)
	b.Queue(stored, t.inst.ProjectID, t.inst.Name)
	b.Queue(listingQuery, append(instanceArgs(t.inst, p.ObservedAt), nullBytes(p.Digest))...)

	res := t.tx.SendBatch(ctx, b)
	defer res.Close()

	if _, err := res.Exec(); err != nil {
		return 0, false, fmt.Errorf("fold duplicate ids: %w", err)
	}

	var n int
	if err := res.QueryRow().Scan(&n); err != nil {
		return 0, false, fmt.Errorf("count staged snapshots: %w", err)
	}

	var has bool
	if err := res.QueryRow().Scan(&has); err != nil {
		return 0, false, fmt.Errorf("look for stored snapshots of the instance: %w", err)
	}

	if _, err := res.Exec(); err != nil {
		return 0, false, fmt.Errorf("record listing of instance: %w", err)
	}

	return n, has, res.Close()
}

// pruneUnchanged drops from the stage every snapshot stored live with the
// same attributes, and returns how many staged rows are left: the new and
// the changed ones. It runs after markRemoved, which needs the whole
// listing. When the instance has nothing stored (a first export), no staged
// row can be unchanged, since an unchanged row has the same project and
// instance, and the probes are skipped.
func (t *TargetTx) pruneUnchanged(ctx context.Context, seen int, stored bool) (int, error) {
	// The comparison is a subquery per staged row on purpose: it can only be
	// planned as a probe of the primary key. As a join, stale statistics
	// on snapshots (it grows fast during a first export) once led the
	// planner to hash the whole table for every target.
	const query = `DELETE FROM pg_temp.` + stageTable + ` AS g
WHERE (SELECT NOT ` + stagedChanged + ` FROM snapshots AS s WHERE s.id = g.id)`

	if seen == 0 || !stored {
		return seen, nil
	}

	tag, err := t.tx.Exec(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("set unchanged snapshots aside: %w", err)
	}

	return seen - int(tag.RowsAffected()), nil
}

// insertNew inserts snapshots never seen before, at version 1, with their
// 'created' version. ON CONFLICT lets the primary key's own check skip the
// stored ones: no separate probe, and no join the planner could get wrong
// while the statistics of a fast-growing table are stale. An instance with
// nothing stored tries a plain insert first (see insertFresh).
func (t *TargetTx) insertNew(ctx context.Context, p MergeParams, stored bool) (int, error) {
	if !stored {
		n, err := t.insertFresh(ctx, p)
		if !errors.Is(err, errFreshConflict) {
			return n, err
		}
	}

	tag, err := t.tx.Exec(ctx, insertNewQuery(`ON CONFLICT (id) DO NOTHING`), p.ObservedAt, t.runIDArg())
	if err != nil {
		return 0, fmt.Errorf("insert new snapshots: %w", err)
	}

	return int(tag.RowsAffected()), nil
}

// insertNewQuery inserts the staged snapshots and their first versions;
// onConflict is the insert's conflict clause, or empty.
func insertNewQuery(onConflict string) string {
	return `WITH created AS (
    INSERT INTO snapshots (id, ` + attrColumns + `, first_seen_at, last_seen_at, version)
    SELECT g.id, ` + gAttrs + `, $1, $1, 1
    FROM pg_temp.` + stageTable + ` AS g
    ` + onConflict + `
    RETURNING id, version, ` + attrColumns + `
)
INSERT INTO snapshot_versions (id, version, ` + attrColumns + `, valid_from, change, run_id)
SELECT id, version, ` + attrColumns + `, $1, 'created', $2
FROM created`
}

// errFreshConflict says a plain insert met a stored id and was undone.
var errFreshConflict = errors.New("a staged snapshot id is already stored")

// insertFresh inserts every staged snapshot of an instance with nothing
// stored without ON CONFLICT, which would probe the primary key once more
// before each insert (a first export spent 4% of the machine on it). Only an
// id stored under another instance can conflict; the insert runs under a
// savepoint so that such a conflict is undone and answered with
// errFreshConflict, for the caller to insert with ON CONFLICT instead.
func (t *TargetTx) insertFresh(ctx context.Context, p MergeParams) (int, error) {
	b := &pgx.Batch{}
	b.Queue(`SAVEPOINT insert_fresh`)
	b.Queue(insertNewQuery(``), p.ObservedAt, t.runIDArg())
	b.Queue(`RELEASE SAVEPOINT insert_fresh`)

	n, err := execFresh(t.tx.SendBatch(ctx, b))
	if !isUniqueViolation(err) {
		return n, err
	}

	if _, rbErr := t.tx.Exec(ctx, `ROLLBACK TO SAVEPOINT insert_fresh`); rbErr != nil {
		return 0, fmt.Errorf("undo insert of new snapshots: %w", rbErr)
	}

	return 0, errFreshConflict
}

// execFresh reads insertFresh's batch: the savepoint, the insert, the
// release.
func execFresh(res pgx.BatchResults) (int, error) {
	defer res.Close()

	if _, err := res.Exec(); err != nil {
		return 0, fmt.Errorf("savepoint before insert of new snapshots: %w", err)
	}

	tag, err := res.Exec()
	if err != nil {
		return 0, fmt.Errorf("insert new snapshots: %w", err)
	}

	if _, err := res.Exec(); err != nil {
		return 0, fmt.Errorf("release savepoint after insert of new snapshots: %w", err)
	}

	return int(tag.RowsAffected()), res.Close()
}

// updateChanged gives every changed or reappearing snapshot a new version:
// the current version is closed at ObservedAt first (one current version
// per id is enforced by a unique index), then the snapshot is updated and an
// 'updated' version written. It runs after pruneUnchanged and before
// insertNew, so every staged id already stored is one that changed.
func (t *TargetTx) updateChanged(ctx context.Context, p MergeParams) (int, error) {
	const (
		// The ids are handed over as an array so that the current versions
		// can only be found by probes of their index: as a join, the
		// planner hashed every current version of the table for each
		// target (100 to 170 ms a target at 100,000 snapshots).
		closeCurrent = `UPDATE snapshot_versions AS v SET valid_to = $1
WHERE v.valid_to IS NULL
  AND v.id = ANY (ARRAY(SELECT g.id FROM pg_temp.` + stageTable + ` AS g))`
		update = `WITH changed AS (
    UPDATE snapshots AS s SET ` + setFromStage + `,
        last_seen_at = $1, removed_at = NULL, version = s.version + 1
    FROM pg_temp.` + stageTable + ` AS g
    WHERE g.id = s.id AND s.id = ANY (ARRAY(SELECT id FROM pg_temp.` + stageTable + `))
    RETURNING s.id, s.version, ` + sAttrs + `
)
INSERT INTO snapshot_versions (id, version, ` + attrColumns + `, valid_from, change, run_id)
SELECT id, version, ` + attrColumns + `, $1, 'updated', $2
FROM changed`
	)

	if _, err := t.tx.Exec(ctx, closeCurrent, p.ObservedAt); err != nil {
		return 0, fmt.Errorf("close versions of changed snapshots: %w", err)
	}

	tag, err := t.tx.Exec(ctx, update, p.ObservedAt, t.runIDArg())
	if err != nil {
		return 0, fmt.Errorf("update changed snapshots: %w", err)
	}

	return int(tag.RowsAffected()), nil
}

// markRemoved marks the confirmed removals: removed_at, a new version, and a
// 'removed' version row carrying the last known attributes. The row itself
// is kept.
func (t *TargetTx) markRemoved(ctx context.Context, p MergeParams) (int, error) {
	const (
		closeCurrent = `UPDATE snapshot_versions AS v SET valid_to = $1
WHERE v.valid_to IS NULL
  AND v.id = ANY (ARRAY(SELECT s.id FROM snapshots AS s WHERE ` + confirmedGone + `))`
		remove = `WITH removed AS (
    UPDATE snapshots AS s SET removed_at = $1, version = s.version + 1
    WHERE ` + confirmedGone + `
    RETURNING s.id, s.version, ` + sAttrs + `
)
INSERT INTO snapshot_versions (id, version, ` + attrColumns + `, valid_from, change, run_id)
SELECT id, version, ` + attrColumns + `, $1, 'removed', $5
FROM removed`
	)

	if len(p.Removed) == 0 {
		return 0, nil
	}

	args := []any{p.ObservedAt, p.Removed, t.inst.ProjectID, t.inst.Name}
	if _, err := t.tx.Exec(ctx, closeCurrent, args...); err != nil {
		return 0, fmt.Errorf("close versions of removed snapshots: %w", err)
	}

	tag, err := t.tx.Exec(ctx, remove, append(args, t.runIDArg())...)
	if err != nil {
		return 0, fmt.Errorf("mark snapshots removed: %w", err)
	}

	return int(tag.RowsAffected()), nil
}

// listingQuery upserts the instance with last_listed_at = ObservedAt, and
// the listing's digest ($9, null when none) with the count of the folded
// stage and the same time (see SkipUnchanged). Its attributes (and updated_at) change only when they differ; attributes
// the caller does not know (empty) keep their stored values. It is queued
// with foldStage's statements: it needs nothing the merge computes.
const listingQuery = `INSERT INTO instances AS i (
    project_id, name, family, state, mongodb_version, backup_enabled, raw,
    first_seen_at, updated_at, last_listed_at,
    listing_digest, listing_seen, listing_digest_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8,
    $9::bytea,
    CASE WHEN $9::bytea IS NULL THEN NULL ELSE (SELECT count(*) FROM pg_temp.` + stageTable + `) END,
    CASE WHEN $9::bytea IS NULL THEN NULL ELSE $8::timestamptz END)
ON CONFLICT (project_id, name) DO UPDATE SET
    listing_digest = EXCLUDED.listing_digest,
    listing_seen = EXCLUDED.listing_seen,
    listing_digest_at = EXCLUDED.listing_digest_at,
    family = EXCLUDED.family,
    state = COALESCE(EXCLUDED.state, i.state),
    mongodb_version = COALESCE(EXCLUDED.mongodb_version, i.mongodb_version),
    backup_enabled = COALESCE(EXCLUDED.backup_enabled, i.backup_enabled),
    raw = COALESCE(EXCLUDED.raw, i.raw),
    last_listed_at = EXCLUDED.last_listed_at,
    updated_at = CASE
        WHEN (i.family, i.state, i.mongodb_version, i.backup_enabled, i.raw)
            IS DISTINCT FROM (EXCLUDED.family,
                COALESCE(EXCLUDED.state, i.state),
                COALESCE(EXCLUDED.mongodb_version, i.mongodb_version),
                COALESCE(EXCLUDED.backup_enabled, i.backup_enabled),
                COALESCE(EXCLUDED.raw, i.raw))
        THEN EXCLUDED.updated_at
        ELSE i.updated_at
    END`

// nullBytes is b, or null when it is empty.
func nullBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}

	return b
}

// runIDArg is the run id for snapshot_versions.run_id; 0 means none.
func (t *TargetTx) runIDArg() *int64 {
	if t.runID == 0 {
		return nil
	}

	id := t.runID

	return &id
}
