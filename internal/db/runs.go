package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Status is the outcome of a run or of one target.
type Status string

// Run and target statuses. A target is never partial.
const (
	StatusRunning     Status = "running"
	StatusSucceeded   Status = "succeeded"
	StatusPartial     Status = "partial"
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted"
)

// Counts are the per-target and per-run totals.
type Counts struct {
	Pages     int
	Requests  int
	Retries   int
	Seen      int
	Created   int
	Updated   int
	Unchanged int
	Removed   int
}

// RunParams describe the process starting a run.
type RunParams struct {
	Host    string
	PID     int
	Version string

	// StartedAt defaults to now.
	StartedAt time.Time
}

// RunResult is a run's outcome, written by FinishRun.
type RunResult struct {
	Status Status
	Counts

	TargetsTotal  int
	TargetsOK     int
	TargetsFailed int

	// Error says why the run failed; it must hold no secret.
	Error string

	// FinishedAt defaults to now.
	FinishedAt time.Time
}

// TargetResult is one target's outcome within a run. Zero times are stored
// as null; RecordTarget keeps an earlier started_at when StartedAt is zero.
type TargetResult struct {
	Target       string // "projectID/name", or the configured target when resolution failed
	ProjectID    string
	InstanceName string
	Family       atlas.Family
	Status       Status
	Counts

	ErrorCode   string // Atlas errorCode, or NETWORK, DECODE, DATABASE, ...
	ErrorDetail string

	StartedAt  time.Time
	FinishedAt time.Time
}

// StartRun records a new running run and returns its id.
//
// The run is tied to this process by a session-level advisory lock on a
// connection taken out of the pool and kept until FinishRun (or Close). The
// row and the lock are created in one transaction, so no other session can
// see the running row before the lock exists. If the process dies, PostgreSQL
// closes the session and frees the lock, which is how AbandonStaleRuns tells
// a dead run from a live one.
func (d *DB) StartRun(ctx context.Context, p RunParams) (int64, error) {
	const insert = `INSERT INTO export_runs (started_at, status, host, pid, version)
VALUES ($1, 'running', $2, $3, $4)
RETURNING id`

	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("start run: acquire connection: %w", err)
	}

	var id int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, insert, orNow(p.StartedAt), p.Host, p.PID, p.Version).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}

		return d.lockRun(ctx, tx, id)
	})
	if err != nil {
		closeConn(conn)

		return 0, fmt.Errorf("start run: %w", err)
	}

	d.mu.Lock()
	d.runs[id] = conn
	d.mu.Unlock()

	return id, nil
}

func (d *DB) lockRun(ctx context.Context, tx pgx.Tx, id int64) error {
	const lock = `SELECT pg_advisory_lock(hashtextextended($1, 0))`

	if _, err := tx.Exec(ctx, lock, d.runLockName(id)); err != nil {
		return fmt.Errorf("lock run %d: %w", id, err)
	}

	return nil
}

func (d *DB) runLockName(id int64) string {
	return d.lockName(lockKindRun, strconv.FormatInt(id, 10))
}

// FinishRun writes the run's outcome, marks its targets still running as
// interrupted, then releases the run's lock and connection. The outcome is
// written before the lock is freed, so AbandonStaleRuns never overwrites it.
// Pass a context that is still live at shutdown.
func (d *DB) FinishRun(ctx context.Context, runID int64, r RunResult) error {
	const (
		update = `UPDATE export_runs SET
    finished_at = $2, status = $3,
    targets_total = $4, targets_ok = $5, targets_failed = $6,
    pages = $7, requests = $8, retries = $9, seen = $10,
    created = $11, updated = $12, unchanged = $13, removed = $14,
    error = $15
WHERE id = $1`
		interruptTargets = `UPDATE export_run_targets SET status = 'interrupted', finished_at = $2
WHERE run_id = $1 AND status = 'running'`
	)

	finished := orNow(r.FinishedAt)
	c := r.Counts

	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, update, runID, finished, string(r.Status),
			r.TargetsTotal, r.TargetsOK, r.TargetsFailed,
			c.Pages, c.Requests, c.Retries, c.Seen, c.Created, c.Updated, c.Unchanged, c.Removed,
			nullString(r.Error))
		if err != nil {
			return err
		}

		if tag.RowsAffected() == 0 {
			return fmt.Errorf("no run with id %d", runID)
		}

		_, err = tx.Exec(ctx, interruptTargets, runID, finished)

		return err
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", runID, err)
	}

	d.releaseRun(runID)

	return nil
}

// releaseRun closes the connection that holds the run's lock, which frees it.
func (d *DB) releaseRun(runID int64) {
	d.mu.Lock()
	conn, ok := d.runs[runID]
	delete(d.runs, runID)
	d.mu.Unlock()

	if ok {
		closeConn(conn)
	}
}

// RecordTarget inserts or replaces one target's outcome within a run,
// keyed by (run, target). Call it when a target starts (StatusRunning) and
// again when it ends.
func (d *DB) RecordTarget(ctx context.Context, runID int64, r TargetResult) error {
	const upsert = `INSERT INTO export_run_targets (
    run_id, target, project_id, instance_name, family, status,
    pages, requests, retries, seen, created, updated, unchanged, removed,
    error_code, error_detail, started_at, finished_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (run_id, target) DO UPDATE SET
    project_id = EXCLUDED.project_id,
    instance_name = EXCLUDED.instance_name,
    family = EXCLUDED.family,
    status = EXCLUDED.status,
    pages = EXCLUDED.pages,
    requests = EXCLUDED.requests,
    retries = EXCLUDED.retries,
    seen = EXCLUDED.seen,
    created = EXCLUDED.created,
    updated = EXCLUDED.updated,
    unchanged = EXCLUDED.unchanged,
    removed = EXCLUDED.removed,
    error_code = EXCLUDED.error_code,
    error_detail = EXCLUDED.error_detail,
    started_at = COALESCE(EXCLUDED.started_at, export_run_targets.started_at),
    finished_at = EXCLUDED.finished_at`

	c := r.Counts
	_, err := d.pool.Exec(ctx, upsert,
		runID, r.Target, r.ProjectID, nullString(r.InstanceName), nullString(string(r.Family)),
		string(r.Status),
		c.Pages, c.Requests, c.Retries, c.Seen, c.Created, c.Updated, c.Unchanged, c.Removed,
		nullString(r.ErrorCode), nullString(r.ErrorDetail), nullTime(r.StartedAt), nullTime(r.FinishedAt))
	if err != nil {
		return fmt.Errorf("record target %s of run %d: %w", r.Target, runID, err)
	}

	return nil
}

// AbandonStaleRuns marks as interrupted every run left running by a process
// that is gone, with its running targets, and returns how many runs it
// marked. Call it at run start.
//
// A run is live exactly while some session holds its lock (see StartRun).
// For each running row this tries the lock without waiting: when it is
// granted, nobody holds it, so the owner is dead; the row is marked and the
// lock released at once. A live run's lock, including one of this process's
// own runs, is held by another session, so the try fails and the row is left
// alone. Two processes abandoning at once cannot both mark a row: the update
// only touches rows still running.
func (d *DB) AbandonStaleRuns(ctx context.Context) (int, error) {
	const selectRunning = `SELECT id FROM export_runs WHERE status = 'running' ORDER BY id`

	rows, err := d.pool.Query(ctx, selectRunning)
	if err != nil {
		return 0, fmt.Errorf("abandon stale runs: list running: %w", err)
	}

	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("abandon stale runs: list running: %w", err)
	}

	if len(ids) == 0 {
		return 0, nil
	}

	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("abandon stale runs: acquire connection: %w", err)
	}

	marked := 0
	for _, id := range ids {
		ok, err := d.abandonRun(ctx, conn.Conn(), id)
		if err != nil {
			// The session may still hold the lock it tried: never pool it.
			closeConn(conn)

			return marked, fmt.Errorf("abandon stale run %d: %w", id, err)
		}

		if ok {
			marked++
		}
	}

	conn.Release()

	return marked, nil
}

// abandonRun marks one run interrupted if its lock is free. It always
// releases the lock it took, even when ctx is done, so the pooled session
// never keeps it.
func (d *DB) abandonRun(ctx context.Context, conn *pgx.Conn, id int64) (bool, error) {
	const (
		tryLock = `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`
		unlock  = `SELECT pg_advisory_unlock(hashtextextended($1, 0))`
		markRun = `UPDATE export_runs SET status = 'interrupted', finished_at = now(),
    error = COALESCE(error, 'the exporter process ended without finishing the run')
WHERE id = $1 AND status = 'running'`
		markTargets = `UPDATE export_run_targets SET status = 'interrupted', finished_at = now()
WHERE run_id = $1 AND status = 'running'`
	)

	name := d.runLockName(id)

	var free bool
	if err := conn.QueryRow(ctx, tryLock, name).Scan(&free); err != nil {
		return false, fmt.Errorf("try lock: %w", err)
	}

	if !free {
		return false, nil
	}

	var marked bool
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, markRun, id)
		if err != nil {
			return err
		}

		marked = tag.RowsAffected() == 1
		_, err = tx.Exec(ctx, markTargets, id)

		return err
	})

	_, uerr := conn.Exec(context.WithoutCancel(ctx), unlock, name)
	if err := errors.Join(err, uerr); err != nil {
		return false, err
	}

	return marked, nil
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}

	return t
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}

	return &s
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}

	return &t
}
