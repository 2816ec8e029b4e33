package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// relistThreshold is the number of removal candidates above which a second
// listing confirms them, rather than one GET per candidate.
const relistThreshold = 20

// errIncompleteListing marks listings that left out snapshots Atlas still
// has, so that removals cannot be trusted.
var errIncompleteListing = errors.New("snapshot listing incomplete")

// exportInstance stages the instance's listing l and merges it in one
// transaction, and records the outcome whatever it is. listed is called
// once the listing has arrived whole, before anything is asked of the
// database about it (see worker).
func (e *Exporter) exportInstance(ctx context.Context, runID int64, inst atlas.Instance, l *listing, listed func()) TargetResult {
	start := e.now()
	r := TargetResult{Key: key(inst), Instance: inst}

	r.Counts, r.Err = e.guardedTransfer(ctx, runID, inst, l, listed)
	r.Duration = e.now().Sub(start)
	e.record(runID, r, start)
	e.logTarget(r)

	return r
}

// guardedTransfer turns a panic inside one target into that target's
// failure: its transaction is rolled back by transfer's deferred Rollback,
// and the other targets go on.
func (e *Exporter) guardedTransfer(ctx context.Context, runID int64, inst atlas.Instance, l *listing, listed func()) (c db.Counts, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()

	return e.transfer(ctx, runID, inst, l, listed)
}

// transfer is the body of exportInstance: nothing is committed unless every
// step succeeds.
func (e *Exporter) transfer(ctx context.Context, runID int64, inst atlas.Instance, l *listing, listed func()) (db.Counts, error) {
	var c db.Counts
	defer l.stop()

	tx, err := e.db.BeginTarget(ctx, runID, inst)
	if err != nil {
		return c, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// The first pages are held back rather than staged: if the listing
	// turns out to be the one last merged, they need not be copied at all.
	held := &heldPages{}
	stats, err := l.drain(func(p fetch.Page) error {
		return held.stage(ctx, tx, p)
	})
	addFetch(&c, stats)
	if err != nil {
		return c, err
	}

	listed()

	if seen, ok, err := e.skipUnchanged(ctx, tx, l); err != nil || ok {
		c.Seen, c.Unchanged = seen, seen

		if err != nil {
			return c, err
		}

		return c, tx.Commit(ctx)
	}

	if err := held.flush(ctx, tx); err != nil {
		return c, err
	}

	digest, staged := l.sum(), tx.Staged()

	removed, err := e.confirmRemovals(ctx, tx, inst, l, &c)
	if err != nil {
		return c, err
	}

	if tx.Staged() != staged {
		// Snapshots the listing lacked were staged: the merge leaves a
		// state no listing's digest stands for.
		digest = nil
	}

	m, err := tx.Merge(ctx, db.MergeParams{ObservedAt: e.now(), Removed: removed, Digest: digest})
	if err != nil {
		return c, err
	}

	c.Seen, c.Created, c.Updated, c.Unchanged, c.Removed = m.Seen, m.Created, m.Updated, m.Unchanged, m.Removed

	return c, tx.Commit(ctx)
}

// maxHeldSnapshots bounds the snapshots heldPages keeps back per target:
// two pages of 500, the whole listing of most instances, and a bounded
// memory for larger ones.
const maxHeldSnapshots = 1000

// heldPages keeps a listing's first pages back from the stage while they
// are few: a listing that turns out unchanged is then never copied.
type heldPages struct {
	pages    []fetch.Page
	n        int
	flushing bool
}

// stage holds p back, or stages everything held and p once more than
// maxHeldSnapshots came.
func (h *heldPages) stage(ctx context.Context, tx *db.TargetTx, p fetch.Page) error {
	if !h.flushing && h.n+len(p.Snapshots) <= maxHeldSnapshots {
		h.pages = append(h.pages, p)
		h.n += len(p.Snapshots)

		return nil
	}

	if err := h.flush(ctx, tx); err != nil {
		return err
	}

	return tx.Stage(ctx, p.Snapshots)
}

// flush stages the held pages, in order; later pages go straight through.
func (h *heldPages) flush(ctx context.Context, tx *db.TargetTx) error {
	h.flushing = true
	for _, p := range h.pages {
		if err := tx.Stage(ctx, p.Snapshots); err != nil {
			return err
		}
	}

	h.pages, h.n = nil, 0

	return nil
}

// skipUnchanged ends a target whose listing is byte for byte the one last
// merged (see db.TargetTx.SkipUnchanged): no removal can be missing, since
// the same ids were listed, and no attribute can differ. Its staged rows
// are dropped with the commit.
func (e *Exporter) skipUnchanged(ctx context.Context, tx *db.TargetTx, l *listing) (int, bool, error) {
	digest := l.sum()
	if digest == nil {
		return 0, false, nil
	}

	return tx.SkipUnchanged(ctx, e.now(), digest)
}

// confirmRemovals tells a real removal from a snapshot that offset paging
// skipped. A listing that ended on Atlas's count is first listed on to its
// empty page: the count is an estimate. Live snapshots still missing are
// asked for one by one (a 404 confirms the removal; an answer stages the
// snapshot); when there are many, a second listing is staged instead and
// only what both listings lack counts as removed.
func (e *Exporter) confirmRemovals(ctx context.Context, tx *db.TargetTx, inst atlas.Instance, l *listing, c *db.Counts) ([]string, error) {
	candidates, err := tx.RemovalCandidates(ctx)
	if err != nil || len(candidates) == 0 {
		return nil, err
	}

	if l.countedEnd {
		if candidates, err = e.listRest(ctx, tx, inst, l.last+1, c); err != nil || len(candidates) == 0 {
			return nil, err
		}
	}

	if len(candidates) > relistThreshold {
		return e.relist(ctx, tx, inst, c)
	}

	var removed []string
	for _, id := range candidates {
		gone, err := e.confirmOne(ctx, tx, inst, id, c)
		if err != nil {
			return nil, err
		}

		if gone {
			removed = append(removed, id)
		}
	}

	return removed, nil
}

// listRest stages the pages of inst's listing from page first on, up to
// the empty or short page that ends it, and returns the removal candidates
// still left.
func (e *Exporter) listRest(ctx context.Context, tx *db.TargetTx, inst atlas.Instance, first int, c *db.Counts) ([]string, error) {
	stats, err := e.client.ListSnapshotsFrom(ctx, inst, first, func(p fetch.Page) error {
		return tx.Stage(ctx, p.Snapshots)
	})
	addFetch(c, stats)
	if err != nil {
		return nil, fmt.Errorf("list on past the counted end: %w", err)
	}

	return tx.RemovalCandidates(ctx)
}

func (e *Exporter) confirmOne(ctx context.Context, tx *db.TargetTx, inst atlas.Instance, id string, c *db.Counts) (bool, error) {
	snap, stats, err := e.client.GetSnapshot(ctx, inst, id)
	addFetch(c, stats)

	switch {
	case fetch.IsNotFound(err) && fetch.ErrorCodeOf(err) != "":
		// Only Atlas's own 404, with its error body, proves the snapshot
		// gone; a bare 404 may come from a proxy or a wrong base URL.
		return true, nil
	case err != nil:
		return false, fmt.Errorf("confirm removal of snapshot %s: %w", id, err)
	}

	return false, tx.Stage(ctx, []atlas.Snapshot{snap})
}

func (e *Exporter) relist(ctx context.Context, tx *db.TargetTx, inst atlas.Instance, c *db.Counts) ([]string, error) {
	// Whatever Atlas counts, this listing runs to its empty page.
	stats, err := e.client.ListSnapshotsFrom(ctx, inst, 1, func(p fetch.Page) error {
		return tx.Stage(ctx, p.Snapshots)
	})
	addFetch(c, stats)
	if err != nil {
		return nil, fmt.Errorf("second listing to confirm removals: %w", err)
	}

	gone, err := tx.RemovalCandidates(ctx)
	if err != nil {
		return nil, err
	}

	return gone, e.spotCheck(ctx, inst, gone, c)
}

// spotChecks is how many of the snapshots both listings lacked are asked
// for one by one before they are marked removed.
const spotChecks = 3

// spotCheck guards the second listing against a fault that repeats: a proxy
// or cache that cuts every listing short the same way (an empty page in the
// middle, say) would make both listings lack the same snapshots. A few of
// them, spread over the set, are asked for directly; if Atlas still has one,
// neither listing was complete and the target fails with nothing written.
func (e *Exporter) spotCheck(ctx context.Context, inst atlas.Instance, gone []string, c *db.Counts) error {
	k := min(spotChecks, len(gone))
	for i := range k {
		id := gone[i*(len(gone)-1)/max(k-1, 1)]

		_, stats, err := e.client.GetSnapshot(ctx, inst, id)
		addFetch(c, stats)

		switch {
		case fetch.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("spot-check removal of snapshot %s: %w", id, err)
		default:
			return fmt.Errorf("%w: snapshot %s is missing from two listings but atlas still has it", errIncompleteListing, id)
		}
	}

	return nil
}

// record writes the target's row of export_run_targets. It runs on a
// context of its own so that a cancelled target is still recorded.
func (e *Exporter) record(runID int64, r TargetResult, start time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	code, detail := classify(r.Err)
	status := db.StatusSucceeded
	if r.Err != nil {
		status = db.StatusFailed
		if code == codeInterrupted {
			status = db.StatusInterrupted
		}
	}

	err := e.db.RecordTarget(ctx, runID, db.TargetResult{
		Target:       r.Key,
		ProjectID:    r.Instance.ProjectID,
		InstanceName: r.Instance.Name,
		Family:       r.Instance.Family,
		Status:       status,
		Counts:       r.Counts,
		ErrorCode:    code,
		ErrorDetail:  detail,
		StartedAt:    start,
		FinishedAt:   e.now(),
	})
	if err != nil {
		e.log.Error("record target outcome", "target", r.Key, "err", err)
	}

	e.observeTarget(r)
}

func (e *Exporter) logTarget(r TargetResult) {
	attrs := []any{
		"project_id", r.Instance.ProjectID, "instance", r.Instance.Name, "family", r.Instance.Family,
		"pages", r.Counts.Pages, "requests", r.Counts.Requests, "retries", r.Counts.Retries,
		"seen", r.Counts.Seen, "created", r.Counts.Created, "updated", r.Counts.Updated,
		"removed", r.Counts.Removed, "duration", r.Duration.Seconds(),
	}
	code, _ := classify(r.Err)

	switch {
	case code == codeInterrupted:
		// A shutdown cut it short: the next run exports it; not a failure.
		e.log.Warn("target interrupted", append(attrs, "error_code", code)...)
	case r.Err != nil:
		e.log.Error("target failed", append(attrs, "error_code", code, "err", r.Err)...)
	default:
		e.log.Info("target exported", attrs...)
	}
}
