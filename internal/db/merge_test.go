package db_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

func TestMergeNewSnapshots(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	run := startRun(t, d)
	page := []atlas.Snapshot{
		flexSnap(t, "a", "COMPLETED", atlas.StateCompleted),
		flexSnap(t, "b", "RUNNING", atlas.StateInProgress),
	}

	res := export(t, d, run, flexA, [][]atlas.Snapshot{page}, nil, at(0))
	require.Equal(t, db.MergeResult{Seen: 2, Created: 2}, res)

	snaps := readSnapshots(t, d.Pool())
	require.Len(t, snaps, 2)
	require.Equal(t, 1, snaps["a"].Version)
	require.Nil(t, snaps["a"].RemovedAt)
	require.True(t, snaps["a"].FirstSeen.Equal(at(0)))

	versions := readVersions(t, d.Pool(), "b")
	require.Len(t, versions, 1)
	require.Equal(t, "created", versions[0].Change)
	require.Nil(t, versions[0].ValidTo)
	require.Equal(t, run, *versions[0].RunID)

	listed := count(t, d.Pool(), `SELECT count(*) FROM instances WHERE last_listed_at = $1`, at(0))
	require.Equal(t, 1, listed, "the merge records the complete listing on the instance")
}

// An instance with nothing stored is inserted without ON CONFLICT; an id
// already stored under another instance must neither fail the target nor be
// written twice.
func TestMergeFreshInstanceWithAnIDStoredElsewhere(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	run := startRun(t, d)
	a := flexSnap(t, "a", "COMPLETED", atlas.StateCompleted)
	export(t, d, run, flexA, [][]atlas.Snapshot{{a}}, nil, at(0))

	other := atlas.Instance{ProjectID: flexA.ProjectID, Name: "flex-other", Family: atlas.Flex}
	b := flexSnap(t, "b", "COMPLETED", atlas.StateCompleted)
	b.InstanceName, a.InstanceName = other.Name, other.Name

	res := export(t, d, run, other, [][]atlas.Snapshot{{a, b}}, nil, at(1))

	require.Equal(t, db.MergeResult{Seen: 2, Created: 1, Unchanged: 1}, res)

	snaps := readSnapshots(t, d.Pool())
	require.Len(t, snaps, 2)
	require.Equal(t, 1, snaps["a"].Version, "the stored snapshot is left as it was")
	require.Len(t, readVersions(t, d.Pool(), "a"), 1)
	require.Len(t, readVersions(t, d.Pool(), "b"), 1)
	require.Equal(t, 1, count(t, d.Pool(), `SELECT count(*) FROM snapshots WHERE instance_name = 'flex-other'`))
}

func TestMergeUnchangedRerunWritesNoRows(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	run := startRun(t, d)
	page := []atlas.Snapshot{
		flexSnap(t, "a", "COMPLETED", atlas.StateCompleted),
		flexSnap(t, "b", "COMPLETED", atlas.StateCompleted),
	}
	export(t, d, run, flexA, [][]atlas.Snapshot{page}, nil, at(0))
	before := rowVersions(t, d.Pool())

	// The same data, with the raw JSON's keys in another order and other
	// spacing: jsonb compares by value.
	again := []atlas.Snapshot{page[1], page[0]}
	again[0].Raw = []byte(`{ "status": "COMPLETED", "id": "b", "mongoDBVersion": "8.0.4",
		"expiration": "` + at(24*7).Format(time.RFC3339) + `", "startTime": "` + at(-24).Format(time.RFC3339) + `" }`)

	res := export(t, d, run, flexA, [][]atlas.Snapshot{again}, nil, at(1))
	require.Equal(t, db.MergeResult{Seen: 2, Unchanged: 2}, res)
	require.Equal(t, before, rowVersions(t, d.Pool()), "no row of snapshots or snapshot_versions may be rewritten")

	listed := count(t, d.Pool(), `SELECT count(*) FROM instances WHERE last_listed_at = $1`, at(1))
	require.Equal(t, 1, listed, "the instance still records the newer complete listing")
}

func TestMergeHistory(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	run := startRun(t, d)
	a := flexSnap(t, "a", "COMPLETED", atlas.StateCompleted)
	b := flexSnap(t, "b", "RUNNING", atlas.StateInProgress)
	c := flexSnap(t, "c", "COMPLETED", atlas.StateCompleted)
	export(t, d, run, flexA, [][]atlas.Snapshot{{a}, {b, c}}, nil, at(0))

	t.Run("status change makes exactly one new version", func(t *testing.T) {
		done := flexSnap(t, "b", "COMPLETED", atlas.StateCompleted)
		res := export(t, d, run, flexA, [][]atlas.Snapshot{{a, done, c}}, nil, at(1))
		require.Equal(t, db.MergeResult{Seen: 3, Updated: 1, Unchanged: 2}, res)

		versions := readVersions(t, d.Pool(), "b")
		require.Len(t, versions, 2)
		require.True(t, versions[0].ValidTo.Equal(at(1)), "the old version is closed when the new one starts")
		require.Equal(t, "updated", versions[1].Change)
		require.Equal(t, "COMPLETED", *versions[1].Status)
		require.True(t, versions[1].ValidFrom.Equal(at(1)))
		require.Nil(t, versions[1].ValidTo)
		require.Equal(t, 2, readSnapshots(t, d.Pool())["b"].Version)
	})

	t.Run("candidate not confirmed stays live", func(t *testing.T) {
		tx, err := d.BeginTarget(context.Background(), run, flexA)
		require.NoError(t, err)
		defer func() { require.NoError(t, tx.Rollback(context.Background())) }()

		require.NoError(t, tx.Stage(context.Background(), []atlas.Snapshot{a, flexSnap(t, "b", "COMPLETED", atlas.StateCompleted)}))
		candidates, err := tx.RemovalCandidates(context.Background())
		require.NoError(t, err)
		require.Equal(t, []string{"c"}, candidates)

		res, err := tx.Merge(context.Background(), db.MergeParams{ObservedAt: at(2)})
		require.NoError(t, err)
		require.Equal(t, 0, res.Removed)
		require.NoError(t, tx.Commit(context.Background()))
		require.Nil(t, readSnapshots(t, d.Pool())["c"].RemovedAt)
	})

	t.Run("confirmed removal keeps the row", func(t *testing.T) {
		done := flexSnap(t, "b", "COMPLETED", atlas.StateCompleted)
		res := export(t, d, run, flexA, [][]atlas.Snapshot{{a, done}}, []string{"c", "not-ours"}, at(3))
		require.Equal(t, db.MergeResult{Seen: 2, Unchanged: 2, Removed: 1}, res)

		row := readSnapshots(t, d.Pool())["c"]
		require.NotNil(t, row.RemovedAt)
		require.True(t, row.RemovedAt.Equal(at(3)))
		require.Equal(t, 2, row.Version)

		versions := readVersions(t, d.Pool(), "c")
		require.Len(t, versions, 2)
		require.True(t, versions[0].ValidTo.Equal(at(3)))
		require.Equal(t, "removed", versions[1].Change)
		require.Nil(t, versions[1].ValidTo)
	})

	t.Run("removed snapshot reappears", func(t *testing.T) {
		done := flexSnap(t, "b", "COMPLETED", atlas.StateCompleted)
		res := export(t, d, run, flexA, [][]atlas.Snapshot{{a, done, c}}, nil, at(4))
		require.Equal(t, db.MergeResult{Seen: 3, Updated: 1, Unchanged: 2}, res)

		row := readSnapshots(t, d.Pool())["c"]
		require.Nil(t, row.RemovedAt)
		require.Equal(t, 3, row.Version)

		versions := readVersions(t, d.Pool(), "c")
		require.Len(t, versions, 3)
		require.Equal(t, "updated", versions[2].Change)
		require.True(t, versions[1].ValidTo.Equal(at(4)))
	})

	current := count(t, d.Pool(), `SELECT count(*) FROM snapshot_versions WHERE valid_to IS NULL`)
	require.Equal(t, 3, current, "exactly one current version per snapshot")
}

func TestMergeFoldsDuplicateIDs(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	first := flexSnap(t, "dup", "RUNNING", atlas.StateInProgress)
	last := flexSnap(t, "dup", "COMPLETED", atlas.StateCompleted)
	other := flexSnap(t, "other", "COMPLETED", atlas.StateCompleted)

	res := export(t, d, 0, flexA, [][]atlas.Snapshot{{first, other}, {last}}, nil, at(0))
	require.Equal(t, db.MergeResult{Seen: 2, Created: 2}, res)
	require.Equal(t, "COMPLETED", *readSnapshots(t, d.Pool())["dup"].Status, "the last arrival wins")
	require.Len(t, readVersions(t, d.Pool(), "dup"), 1)
}

func TestMergeRollbackLeavesNothing(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	a := flexSnap(t, "a", "COMPLETED", atlas.StateCompleted)
	export(t, d, 0, flexA, [][]atlas.Snapshot{{a}}, nil, at(0))
	before := rowVersions(t, d.Pool())

	tx, err := d.BeginTarget(ctx, 0, flexA)
	require.NoError(t, err)
	require.NoError(t, tx.Stage(ctx, []atlas.Snapshot{flexSnap(t, "a", "FAILED", atlas.StateFailed), flexSnap(t, "new", "QUEUED", atlas.StateQueued)}))
	_, err = tx.Merge(ctx, db.MergeParams{ObservedAt: at(1), Removed: []string{"a"}})
	require.NoError(t, err)

	// A failure after the merge, before Commit: the export rolls back.
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, tx.Rollback(ctx), "a second rollback is a no-op")

	require.Equal(t, before, rowVersions(t, d.Pool()))
	listed := count(t, d.Pool(), `SELECT count(*) FROM instances WHERE last_listed_at = $1`, at(0))
	require.Equal(t, 1, listed)
}

func TestRollbackAfterCommitIsNoop(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	tx, err := d.BeginTarget(ctx, 0, flexA)
	require.NoError(t, err)
	_, err = tx.Merge(ctx, db.MergeParams{ObservedAt: at(0)})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, tx.Rollback(ctx))
	require.Error(t, tx.Commit(ctx))
}

func TestBeginTargetSerialisesTheSameInstance(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	page := []atlas.Snapshot{flexSnap(t, "a", "COMPLETED", atlas.StateCompleted), flexSnap(t, "b", "QUEUED", atlas.StateQueued)}

	first, err := d.BeginTarget(ctx, 0, flexA)
	require.NoError(t, err)
	defer func() { _ = first.Rollback(ctx) }() // an open transaction would block Close

	second := make(chan lateOutcome, 1)
	go func() { second <- lateExport(ctx, d, page[:1]) }()

	const waiting = `SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
	require.Eventually(t, func() bool {
		var n int
		err := d.Pool().QueryRow(ctx, waiting).Scan(&n)

		return err == nil && n == 1
	},
		10*time.Second, 10*time.Millisecond, "the second BeginTarget must wait for the first")

	require.NoError(t, first.Stage(ctx, page))
	res, err := first.Merge(ctx, db.MergeParams{ObservedAt: at(0)})
	require.NoError(t, err)
	require.Equal(t, 2, res.Created)
	require.NoError(t, first.Commit(ctx))

	// Only a is listed the second time: b, stored by the first meanwhile,
	// must be a candidate, so what BeginTarget read dates from after the wait.
	got := <-second
	require.NoError(t, got.err)
	require.Equal(t, db.MergeResult{Seen: 1, Unchanged: 1}, got.res, "the second sees the first's committed rows")
	require.Equal(t, []string{"b"}, got.candidates)
	require.Equal(t, 2, count(t, d.Pool(), `SELECT count(*) FROM snapshot_versions`))
}

// lateOutcome is what lateExport saw and did.
type lateOutcome struct {
	res        db.MergeResult
	candidates []string
	err        error
}

// lateExport exports page to flexA in one target transaction, noting the
// removal candidates before the merge.
func lateExport(ctx context.Context, d *db.DB, page []atlas.Snapshot) lateOutcome {
	tx, err := d.BeginTarget(ctx, 0, flexA)
	if err != nil {
		return lateOutcome{err: err}
	}
	defer func() { _ = tx.Rollback(ctx) }()

	if err := tx.Stage(ctx, page); err != nil {
		return lateOutcome{err: err}
	}

	candidates, err := tx.RemovalCandidates(ctx)
	if err != nil {
		return lateOutcome{err: err}
	}

	res, err := tx.Merge(ctx, db.MergeParams{ObservedAt: at(1)})
	if err == nil {
		err = tx.Commit(ctx)
	}

	return lateOutcome{res: res, candidates: candidates, err: err}
}

func TestBeginTargetWaitRespectsContext(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	first, err := d.BeginTarget(context.Background(), 0, flexA)
	require.NoError(t, err)
	defer func() { require.NoError(t, first.Rollback(context.Background())) }()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	_, err = d.BeginTarget(ctx, 0, flexA)
	require.Error(t, err)

	other := atlas.Instance{ProjectID: flexA.ProjectID, Name: "flex-b", Family: atlas.Flex}
	tx, err := d.BeginTarget(context.Background(), 0, other)
	require.NoError(t, err, "another instance is not blocked")
	require.NoError(t, tx.Rollback(context.Background()))
}

func TestConcurrentExportsOfOneInstanceWriteOneHistory(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	page := []atlas.Snapshot{flexSnap(t, "a", "COMPLETED", atlas.StateCompleted), flexSnap(t, "b", "QUEUED", atlas.StateQueued)}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() {
			errs <- exportErr(context.Background(), d, page, at(i))
		})
	}
	wg.Wait()
	close(errs)

	for err := range errs {
		require.NoError(t, err)
	}

	require.Equal(t, 2, count(t, d.Pool(), `SELECT count(*) FROM snapshot_versions`), "no duplicate versions")
}

// exportErr is export for goroutines: it returns errors instead of failing.
func exportErr(ctx context.Context, d *db.DB, page []atlas.Snapshot, observed time.Time) error {
	tx, err := d.BeginTarget(ctx, 0, flexA)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()

	if err := tx.Stage(ctx, page); err != nil {
		return err
	}

	if _, err := tx.Merge(ctx, db.MergeParams{ObservedAt: observed}); err != nil {
		return err
	}

	return tx.Commit(ctx)
}

func TestBigStorageSizeKeptToTheDigit(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	inst := atlas.Instance{ProjectID: "p", Name: "sls", Family: atlas.Serverless}
	size := int64(9223372036854775807)
	snap := atlas.Snapshot{
		ID: "big", Family: atlas.Serverless, Status: "completed", State: atlas.StateCompleted,
		StorageSizeBytes: &size,
		Raw:              []byte(`{"id":"big","storageSizeBytes":123456789012345678901234567890,"ratio":0.1000000000000000055511151231257827}`),
	}
	export(t, d, 0, inst, [][]atlas.Snapshot{{snap}}, nil, at(0))

	row := readSnapshots(t, d.Pool())["big"]
	require.Equal(t, "123456789012345678901234567890", *row.StorageRaw)

	var stored int64
	var ratio string
	err := d.Pool().QueryRow(context.Background(),
		`SELECT storage_size_bytes, raw->>'ratio' FROM snapshots WHERE id = 'big'`).Scan(&stored, &ratio)
	require.NoError(t, err)
	require.Equal(t, size, stored)
	require.Equal(t, "0.1000000000000000055511151231257827", ratio)

	res := export(t, d, 0, inst, [][]atlas.Snapshot{{snap}}, nil, at(1))
	require.Equal(t, 1, res.Unchanged)
}

func TestTimeZoneDoesNotChangeResults(t *testing.T) {
	t.Parallel()

	url := dbtest.NewURL(t)
	utc := dbtest.Open(t, withParam(t, url, "timezone", "UTC"))
	kolkata := dbtest.Open(t, withParam(t, url, "timezone", "Asia/Kolkata"))

	var tz string
	require.NoError(t, kolkata.Pool().QueryRow(context.Background(), `SHOW TimeZone`).Scan(&tz))
	require.Equal(t, "Asia/Kolkata", tz)

	page := []atlas.Snapshot{flexSnap(t, "a", "COMPLETED", atlas.StateCompleted)}
	export(t, utc, 0, flexA, [][]atlas.Snapshot{page}, nil, at(0))
	before := rowVersions(t, utc.Pool())

	// The same instants in another Go location too.
	local := page[0]
	taken := local.TakenAt.In(time.FixedZone("IST", 5*3600+1800))
	local.TakenAt = &taken
	res := export(t, kolkata, 0, flexA, [][]atlas.Snapshot{{local}}, nil, at(1).In(taken.Location()))
	require.Equal(t, db.MergeResult{Seen: 1, Unchanged: 1}, res)
	require.Equal(t, before, rowVersions(t, utc.Pool()))

	fromUTC := readSnapshots(t, utc.Pool())["a"]
	fromKolkata := readSnapshots(t, kolkata.Pool())["a"]
	require.True(t, fromUTC.TakenAt.Equal(*fromKolkata.TakenAt))
	require.True(t, fromUTC.FirstSeen.Equal(fromKolkata.FirstSeen))
	require.True(t, fromUTC.TakenAt.Equal(at(-24)))
}

func withParam(t *testing.T, raw, key, value string) string {
	t.Helper()

	u, err := url.Parse(raw)
	require.NoError(t, err)

	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()

	return u.String()
}

func TestStageAfterMergeFails(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	tx, err := d.BeginTarget(ctx, 0, flexA)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(ctx)) }()

	_, err = tx.Merge(ctx, db.MergeParams{ObservedAt: at(0)})
	require.NoError(t, err)
	require.Error(t, tx.Stage(ctx, []atlas.Snapshot{flexSnap(t, "a", "COMPLETED", atlas.StateCompleted)}))

	_, err = tx.Merge(ctx, db.MergeParams{ObservedAt: at(0)})
	require.Error(t, err)
	require.False(t, errors.Is(err, context.Canceled))
}

func TestTargetLockWaitOutlastsStatementTimeout(t *testing.T) {
	t.Parallel()

	url := dbtest.NewURL(t)
	ctx := context.Background()
	d, err := db.Open(ctx, db.Config{URL: url, StatementTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	defer d.Close()

	first, err := d.BeginTarget(ctx, 0, flexA)
	require.NoError(t, err)
	defer func() { _ = first.Rollback(ctx) }() // an open transaction would block Close

	second := make(chan error, 1)
	go func() {
		tx, err := d.BeginTarget(ctx, 0, flexA)
		if err == nil {
			_, err = tx.Merge(ctx, db.MergeParams{ObservedAt: at(1)})
			err = errors.Join(err, tx.Rollback(ctx))
		}
		second <- err
	}()

	// Hold the lock for several statement timeouts: the wait is what is
	// under test here, not a synchronisation.
	select {
	case err := <-second:
		t.Fatalf("the second BeginTarget returned while the lock was held: %v", err)
	case <-time.After(400 * time.Millisecond):
	}

	require.NoError(t, first.Rollback(ctx))
	require.NoError(t, <-second)
}
