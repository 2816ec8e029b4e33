package db

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// stageTable is the temporary table pages are copied into: one per
// connection, empty at the start of every transaction.
const stageTable = "snapshot_stage"

// emptyObject is the raw JSON of a snapshot that came without any.
var emptyObject = json.RawMessage("{}")

// stageColumns are the columns Stage copies, in order.
var stageColumns = []string{
	"ord", "id", "project_id", "instance_name", "family", "status", "state",
	"taken_at", "finished_at", "expires_at", "download_expires_at",
	"frequency_type", "snapshot_type", "storage_size_bytes", "mongodb_version", "raw",
}

// TargetTx is one target's export: a single transaction that holds the
// target's advisory lock, stages its listing and merges it. Nothing it does
// is visible to others, or kept, until Commit.
type TargetTx struct {
	tx    pgx.Tx
	runID int64
	inst  atlas.Instance

	staged int64 // rows staged so far: the next arrival order
	merged bool
	done   bool
	state  targetState
}

// targetState is what BeginTarget reads, under the target's lock, that lets
// a target skip work: whether the instance has live snapshots of its family
// (without, no snapshot can be a removal candidate), and the digest of its
// last merged listing while that listing is still the one that counts (see
// SkipUnchanged). Nobody else writes the instance while the lock is held.
type targetState struct {
	hasLive bool
	digest  []byte
}

// targetStateQuery reads a targetState.
const targetStateQuery = `SELECT
    EXISTS (SELECT 1 FROM snapshots AS s
        WHERE s.project_id = $1 AND s.instance_name = $2 AND s.family = $3 AND s.removed_at IS NULL),
    (SELECT i.listing_digest FROM instances AS i
        WHERE i.project_id = $1 AND i.name = $2 AND i.family = $3
          AND i.listing_digest_at = i.last_listed_at AND i.listing_seen IS NOT NULL)`

// MergeParams are the inputs of Merge beyond the staged listing.
type MergeParams struct {
	// ObservedAt is when the listing was taken: the valid_from of new
	// versions, valid_to of replaced ones, removed_at of removals and the
	// instance's last_listed_at.
	ObservedAt time.Time

	// Digest is the listing's digest (see SkipUnchanged), stored with the
	// merge; nil when the stage holds more than the listing (snapshots
	// staged to confirm removals), so that no later listing is taken for
	// the state this merge leaves.
	Digest []byte

	// Removed are the removal candidates confirmed gone. Only those still
	// live, of this instance, and not staged are marked removed.
	Removed []string
}

// MergeResult counts what Merge did. Seen counts distinct staged ids;
// Seen = Created + Updated + Unchanged.
type MergeResult struct {
	Seen      int
	Created   int
	Updated   int
	Unchanged int
	Removed   int
}

// BeginTarget opens the transaction for one instance's export. It waits,
// for as long as ctx allows, while another session holds the instance's lock
// (an overlapping run, another shard), then creates the staging table.
// Snapshots are stored under inst's project and name, whatever the listing
// says, since the listing was asked for that instance.
func (d *DB) BeginTarget(ctx context.Context, runID int64, inst atlas.Instance) (*TargetTx, error) {
	const (
		// A target's commit need not wait for its WAL flush: the database
		// is a copy of Atlas, and a commit lost in a PostgreSQL crash is
		// redone by the next run (a snapshot still listed is created again,
		// a removal not recorded is seen missing again and confirmed). Only
		// the exact time of a lost change is lost: it becomes the next
		// run's. Run bookkeeping stays synchronous, and a synchronous
		// commit flushes every earlier one, so a target recorded as done
		// has its merge on disk.
		asyncCommit = `SET LOCAL synchronous_commit = off`

		// The stage lives as long as the connection and is emptied at
		// each commit (a rollback empties it too): creating and dropping
		// a table per target would write the catalogs every time and make
		// every cached statement that names it plan afresh.
		createStage = `CREATE TEMP TABLE IF NOT EXISTS ` + stageTable + ` (
    ord                 bigint      NOT NULL,
    id                  text        NOT NULL,
    project_id          text        NOT NULL,
    instance_name       text        NOT NULL,
    family              text        NOT NULL,
    status              text,
    state               text,
    taken_at            timestamptz,
    finished_at         timestamptz,
    expires_at          timestamptz,
    download_expires_at timestamptz,
    frequency_type      text,
    snapshot_type       text,
    storage_size_bytes  bigint,
    mongodb_version     text,
    raw                 jsonb       NOT NULL
) ON COMMIT DELETE ROWS`
	)

	if inst.ProjectID == "" || inst.Name == "" {
		return nil, fmt.Errorf("begin target: instance needs a project id and a name, got %q/%q", inst.ProjectID, inst.Name)
	}

	key := inst.ProjectID + "/" + inst.Name

	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin target %s: %w", key, err)
	}

	args := []any{inst.ProjectID, inst.Name, string(inst.Family)}

	state, err := d.prepareTarget(ctx, tx, key, args, asyncCommit, createStage)
	if err != nil {
		rollback(tx)

		return nil, fmt.Errorf("begin target %s: %w", key, err)
	}

	return &TargetTx{tx: tx, runID: runID, inst: inst, state: state}, nil
}

// prepareTarget takes the target's lock, runs the setup statements (the
// commit mode, the stage) and reads the target's state (stateArgs are
// targetStateQuery's), in one round trip when nobody else holds the lock: a
// try first, then the patient wait of lockXact only when the lock is taken,
// after which the state is read again.
func (d *DB) prepareTarget(ctx context.Context, tx pgx.Tx, key string, stateArgs []any, setup ...string) (targetState, error) {
	const tryLock = `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`

	name := d.lockName(lockKindTarget, key)

	b := &pgx.Batch{}
	b.Queue(tryLock, name)
	for _, q := range setup {
		b.Queue(q)
	}
	b.Queue(targetStateQuery, stateArgs...)

	locked, state, err := readPrepared(tx.SendBatch(ctx, b), len(setup))
	if err != nil || locked {
		return state, err
	}

	if err := d.lockXact(ctx, tx, name); err != nil {
		return targetState{}, err
	}

	return readTargetState(tx.QueryRow(ctx, targetStateQuery, stateArgs...))
}

// readPrepared reads prepareTarget's batch: the try lock, the setup
// statements, the state.
func readPrepared(res pgx.BatchResults, setup int) (bool, targetState, error) {
	defer res.Close()

	var locked bool
	if err := res.QueryRow().Scan(&locked); err != nil {
		return false, targetState{}, fmt.Errorf("try target lock: %w", err)
	}

	for range setup {
		if _, err := res.Exec(); err != nil {
			return false, targetState{}, fmt.Errorf("set up target transaction: %w", err)
		}
	}

	state, err := readTargetState(res.QueryRow())
	if err != nil {
		return false, targetState{}, err
	}

	return locked, state, res.Close()
}

// readTargetState scans targetStateQuery's row.
func readTargetState(row pgx.Row) (targetState, error) {
	var st targetState
	if err := row.Scan(&st.hasLive, &st.digest); err != nil {
		return targetState{}, fmt.Errorf("read target state: %w", err)
	}

	return st, nil
}

// rollback ends a transaction that failed; a cancelled ctx must not leave it
// open, and the error has already been reported.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_ = tx.Rollback(ctx)
}

// Stage copies one page of snapshots into the staging table. Arrival order
// is kept, so that an id listed twice resolves to its last appearance.
func (t *TargetTx) Stage(ctx context.Context, snaps []atlas.Snapshot) error {
	if t.merged || t.done {
		return errors.New("stage snapshots: target transaction already merged or ended")
	}

	if len(snaps) == 0 {
		return nil
	}

	first := t.staged
	src := pgx.CopyFromSlice(len(snaps), func(i int) ([]any, error) {
		return t.stageRow(first+int64(i), snaps[i]), nil
	})

	n, err := t.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, stageColumns, src)
	if err != nil {
		return fmt.Errorf("stage %d snapshots of %s/%s: %w", len(snaps), t.inst.ProjectID, t.inst.Name, err)
	}

	t.staged += n

	return nil
}

// stageRow maps a snapshot to stageColumns. Empty strings become null, and a
// snapshot without raw JSON gets an empty object (raw is never null).
func (t *TargetTx) stageRow(ord int64, s atlas.Snapshot) []any {
	family := s.Family
	if family == "" {
		family = t.inst.Family
	}

	raw := s.Raw // passed to pgx as is: no copy per row
	if len(raw) == 0 {
		raw = emptyObject
	}

	return []any{
		ord, s.ID, t.inst.ProjectID, t.inst.Name, string(family),
		nullString(s.Status), nullString(string(s.State)),
		s.TakenAt, s.FinishedAt, s.ExpiresAt, s.DownloadExpiresAt,
		nullString(s.FrequencyType), nullString(s.SnapshotType), s.StorageSizeBytes,
		nullString(s.MongoDBVersion), raw,
	}
}

// Staged is how many rows were staged so far.
func (t *TargetTx) Staged() int64 {
	return t.staged
}

// SkipUnchanged ends the work of a target whose listing has the digest of
// the listing last merged for the instance, and returns that listing's
// count of distinct snapshots. The same raw results in the same order mean
// the same ids and attributes, so the merge could write nothing and remove
// nothing; only last_listed_at moves to observedAt. The digest is trusted
// only when it was stored with the instance's current last_listed_at: a
// merge that stored none (an exporter from before the digest) leaves them
// apart. ok is false, and nothing is written, when the digest differs or
// none is stored; the caller then merges. After ok, only Commit remains.
func (t *TargetTx) SkipUnchanged(ctx context.Context, observedAt time.Time, digest []byte) (int, bool, error) {
	const query = `UPDATE instances
SET last_listed_at = $4, listing_digest_at = $4
WHERE project_id = $1 AND name = $2 AND family = $3
  AND listing_digest = $5 AND listing_digest_at = last_listed_at AND listing_seen IS NOT NULL
RETURNING listing_seen`

	if t.merged || t.done {
		return 0, false, errors.New("skip unchanged listing: target transaction already merged or ended")
	}

	// The digest read with the lock spares the query when it differs,
	// which is every changed listing and every first export.
	if len(digest) == 0 || !bytes.Equal(digest, t.state.digest) {
		return 0, false, nil
	}

	var seen int
	err := t.tx.QueryRow(ctx, query, t.inst.ProjectID, t.inst.Name, string(t.inst.Family), observedAt, digest).Scan(&seen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("compare listing digest of %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	t.merged = true

	return seen, true, nil
}

// RemovalCandidates lists the instance's live snapshots of its own family
// that the staged listing does not contain, in id order. Offset paging can
// skip an item, so each must be confirmed gone before it is passed to Merge
// as removed. Snapshots of the other family (a Serverless instance migrated
// to Flex keeps its name) are never candidates: a listing of one family says
// nothing about the other.
func (t *TargetTx) RemovalCandidates(ctx context.Context) ([]string, error) {
	// EXCEPT is a set operation the planner can only run as a hash or a
	// sort of both sides: linear whatever it believes of the stage, of
	// which it has no statistics. As an anti-join it once scanned the whole
	// stage for every stored snapshot.
	const query = `SELECT id FROM (
    SELECT s.id FROM snapshots AS s
    WHERE s.project_id = $1 AND s.instance_name = $2 AND s.family = $3 AND s.removed_at IS NULL
    EXCEPT
    SELECT g.id FROM pg_temp.` + stageTable + ` AS g
) AS missing
ORDER BY id`

	if !t.state.hasLive {
		// Nothing stored can be missing (a first export, say): no query.
		return nil, nil
	}

	rows, err := t.tx.Query(ctx, query, t.inst.ProjectID, t.inst.Name, string(t.inst.Family))
	if err != nil {
		return nil, fmt.Errorf("list removal candidates of %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list removal candidates of %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	return ids, nil
}

// Commit makes the target's merge durable and releases its lock.
func (t *TargetTx) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("commit target: transaction already ended")
	}

	t.done = true
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit target %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	return nil
}

// Rollback discards everything the transaction did and releases the lock.
// After Commit, or a second time, it does nothing, so it can be deferred.
func (t *TargetTx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}

	t.done = true
	err := t.tx.Rollback(ctx)
	if err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("roll back target %s/%s: %w", t.inst.ProjectID, t.inst.Name, err)
	}

	return nil
}
