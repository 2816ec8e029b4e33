// Package export runs one export pass: it resolves the configured targets
// into instances, lists each instance's snapshots page by page into
// PostgreSQL, confirms removals, merges, and records the outcome.
//
// Each instance is one database transaction, so a target that fails leaves
// its rows as they were, and never stops the other targets.
package export

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// Params are the inputs of one pass.
type Params struct {
	Targets     []atlas.Target
	Concurrency int
	// Owns selects this process's shard by instance key ("projectID/name");
	// nil owns everything.
	Owns func(key string) bool
	// Host, PID and Version identify the process in export_runs.
	Host    string
	PID     int
	Version string
}

// Result summarises one pass.
type Result struct {
	RunID   int64
	Status  db.Status
	Targets []TargetResult
	// Totals add up the targets' counts and discovery's requests.
	Totals   db.Counts
	Duration time.Duration
}

// Failed counts the targets that did not export.
func (r Result) Failed() int {
	n := 0
	for _, t := range r.Targets {
		if t.Err != nil {
			n++
		}
	}

	return n
}

// Interrupted counts the failed targets that a cancellation (a signal) cut
// short, rather than an error of their own.
func (r Result) Interrupted() int {
	n := 0
	for _, t := range r.Targets {
		if errors.Is(t.Err, context.Canceled) {
			n++
		}
	}

	return n
}

func addCounts(c *db.Counts, o db.Counts) {
	c.Pages += o.Pages
	c.Requests += o.Requests
	c.Retries += o.Retries
	c.Seen += o.Seen
	c.Created += o.Created
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Removed += o.Removed
}

func addFetch(c *db.Counts, s fetch.ListStats) {
	c.Pages += s.Pages
	c.Requests += s.Requests
	c.Retries += s.Retries
}

// TargetResult is one target's outcome: an instance, or a configured target
// that could not be resolved (Instance.Name empty then).
type TargetResult struct {
	Key      string
	Instance atlas.Instance
	Counts   db.Counts
	Err      error
	Duration time.Duration
}

// Exporter runs passes with one Atlas client and one database.
type Exporter struct {
	client *fetch.Client
	db     *db.DB
	log    *slog.Logger
	now    func() time.Time
	obs    Observer
}

// New returns an Exporter. The logger receives one line per target and one
// per run.
func New(client *fetch.Client, database *db.DB, logger *slog.Logger) *Exporter {
	return &Exporter{client: client, db: database, log: logger, now: time.Now}
}

// Run exports every target once. The error is non-nil only when the run
// itself could not be recorded (the database is unusable); target failures
// are in the Result.
func (e *Exporter) Run(ctx context.Context, p Params) (Result, error) {
	start := e.now()

	if _, err := e.db.AbandonStaleRuns(ctx); err != nil {
		return Result{}, err
	}

	runID, err := e.db.StartRun(ctx, db.RunParams{Host: p.Host, PID: p.PID, Version: p.Version})
	if err != nil {
		return Result{}, err
	}

	e.observeStart(runID)

	res := Result{RunID: runID}
	instances, failed, discovery := e.resolve(ctx, runID, p)
	res.Targets = append(res.Targets, failed...)
	res.Targets = append(res.Targets, e.exportAll(ctx, runID, instances, p.Concurrency)...)
	res.Duration = e.now().Sub(start)
	res.Status = runStatus(ctx, res)
	res.Totals = discovery
	for _, t := range res.Targets {
		addCounts(&res.Totals, t.Counts)
	}

	return res, e.finish(res)
}

// finish records the run's outcome. It uses a context of its own so that an
// interrupted run is still recorded as such.
func (e *Exporter) finish(res Result) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	errText := ""
	if res.Status != db.StatusSucceeded {
		errText = firstError(res.Targets)
	}

	err := e.db.FinishRun(ctx, res.RunID, db.RunResult{
		Status:        res.Status,
		TargetsTotal:  len(res.Targets),
		TargetsFailed: res.Failed(),
		TargetsOK:     len(res.Targets) - res.Failed(),
		Counts:        res.Totals,
		Error:         errText,
	})

	e.log.Info("run finished",
		"run_id", res.RunID, "status", res.Status,
		"targets", len(res.Targets), "failed", res.Failed()-res.Interrupted(), "interrupted", res.Interrupted(),
		"pages", res.Totals.Pages, "requests", res.Totals.Requests, "retries", res.Totals.Retries,
		"seen", res.Totals.Seen, "created", res.Totals.Created, "updated", res.Totals.Updated,
		"removed", res.Totals.Removed, "duration", res.Duration.Seconds())
	e.observeRun(res)

	return err
}

// runStatus is interrupted when the run was cancelled (a signal), else it
// follows the targets: all ok, some failed, or all failed. A run timeout
// counts as failures of the targets it cut short.
func runStatus(ctx context.Context, res Result) db.Status {
	failed := res.Failed()

	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return db.StatusInterrupted
	case failed == 0:
		return db.StatusSucceeded
	case failed == len(res.Targets):
		return db.StatusFailed
	default:
		return db.StatusPartial
	}
}

func firstError(targets []TargetResult) string {
	for _, t := range targets {
		if t.Err != nil {
			return t.Key + ": " + t.Err.Error()
		}
	}

	return ""
}

// exportAll runs the instances through a pool of workers (see worker).
func (e *Exporter) exportAll(ctx context.Context, runID int64, instances []atlas.Instance, workers int) []TargetResult {
	results := make([]TargetResult, len(instances))
	next := make(chan int)

	var wg sync.WaitGroup
	for range max(workers, 1) {
		w := &worker{e: e, ctx: ctx, runID: runID, next: next, instances: instances, results: results}
		wg.Go(w.run)
	}

	for i := range instances {
		if ctx.Err() != nil {
			results[i] = e.skipped(ctx, runID, instances[i])
			continue
		}

		next <- i
	}
	close(next)
	wg.Wait()

	return results
}

// skipped records an instance that a cancelled run never started.
func (e *Exporter) skipped(ctx context.Context, runID int64, inst atlas.Instance) TargetResult {
	r := TargetResult{Key: key(inst), Instance: inst, Err: context.Cause(ctx)}
	e.record(runID, r, e.now())

	return r
}

func key(inst atlas.Instance) string {
	return inst.ProjectID + "/" + inst.Name
}
