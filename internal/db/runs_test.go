package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

func TestRunBookkeeping(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	run := startRun(t, d)

	target := flexA.ProjectID + "/" + flexA.Name
	require.NoError(t, d.RecordTarget(ctx, run, db.TargetResult{
		Target: target, ProjectID: flexA.ProjectID, InstanceName: flexA.Name, Family: atlas.Flex,
		Status: db.StatusRunning, StartedAt: at(0),
	}))
	require.NoError(t, d.RecordTarget(ctx, run, db.TargetResult{
		Target: target, ProjectID: flexA.ProjectID, InstanceName: flexA.Name, Family: atlas.Flex,
		Status: db.StatusSucceeded, Counts: db.Counts{Pages: 2, Requests: 3, Retries: 1, Seen: 7, Created: 7},
		FinishedAt: at(1),
	}))
	require.NoError(t, d.RecordTarget(ctx, run, db.TargetResult{
		Target: "flex:5f1a0000000000000000000b", ProjectID: "5f1a0000000000000000000b",
		Status: db.StatusFailed, ErrorCode: "NETWORK", ErrorDetail: "dial tcp: connection refused",
		StartedAt: at(0), FinishedAt: at(1),
	}))
	require.NoError(t, d.RecordTarget(ctx, run, db.TargetResult{
		Target: "5f1a0000000000000000000c/left", ProjectID: "5f1a0000000000000000000c", InstanceName: "left",
		Status: db.StatusRunning, StartedAt: at(0),
	}))

	require.NoError(t, d.FinishRun(ctx, run, db.RunResult{
		Status: db.StatusPartial, Counts: db.Counts{Pages: 2, Requests: 4, Seen: 7, Created: 7},
		TargetsTotal: 3, TargetsOK: 1, TargetsFailed: 1, Error: "1 of 3 targets failed", FinishedAt: at(2),
	}))

	var status, errText string
	var seen, total int
	var finished time.Time
	err := d.Pool().QueryRow(ctx, `SELECT status, seen, targets_total, error, finished_at FROM export_runs WHERE id = $1`, run).
		Scan(&status, &seen, &total, &errText, &finished)
	require.NoError(t, err)
	require.Equal(t, "partial", status)
	require.Equal(t, 7, seen)
	require.Equal(t, 3, total)
	require.Equal(t, "1 of 3 targets failed", errText)
	require.True(t, finished.Equal(at(2)))

	var tstatus string
	var started, tfinished time.Time
	var pages int
	err = d.Pool().QueryRow(ctx, `SELECT status, pages, started_at, finished_at FROM export_run_targets
WHERE run_id = $1 AND target = $2`, run, target).Scan(&tstatus, &pages, &started, &tfinished)
	require.NoError(t, err)
	require.Equal(t, "succeeded", tstatus)
	require.Equal(t, 2, pages)
	require.True(t, started.Equal(at(0)), "a later record without a start keeps the first one")
	require.True(t, tfinished.Equal(at(1)))

	left := count(t, d.Pool(), `SELECT count(*) FROM export_run_targets WHERE run_id = $1 AND status = 'interrupted'`, run)
	require.Equal(t, 1, left, "finishing a run interrupts its targets still running")
}

func TestAbandonStaleRuns(t *testing.T) {
	t.Parallel()

	url := dbtest.NewURL(t)
	ctx := context.Background()
	live := dbtest.Open(t, url)
	liveRun := startRun(t, live)

	// A process that dies: its session ends, and with it the run's lock.
	dead, err := db.Open(ctx, db.Config{URL: url})
	require.NoError(t, err)
	deadRun := startRun(t, dead)
	dead.Close()

	// A row left running without any lock, e.g. by a crash mid-start.
	var orphan int64
	err = live.Pool().QueryRow(ctx, `INSERT INTO export_runs (started_at, status) VALUES (now(), 'running') RETURNING id`).Scan(&orphan)
	require.NoError(t, err)
	_, err = live.Pool().Exec(ctx, `INSERT INTO export_run_targets (run_id, target, project_id, status)
VALUES ($1, 'p/x', 'p', 'running')`, deadRun)
	require.NoError(t, err)

	other := dbtest.Open(t, url)
	marked := 0
	require.Eventually(t, func() bool {
		n, err := other.AbandonStaleRuns(ctx)
		if err != nil {
			return false
		}
		marked += n

		return marked == 2
	}, 10*time.Second, 20*time.Millisecond, "the server frees a closed session's locks shortly after it closes")

	statusOf := func(id int64) string {
		var s string
		require.NoError(t, live.Pool().QueryRow(ctx, `SELECT status FROM export_runs WHERE id = $1`, id).Scan(&s))

		return s
	}
	require.Equal(t, "running", statusOf(liveRun), "a live process's run is left alone")
	require.Equal(t, "interrupted", statusOf(deadRun))
	require.Equal(t, "interrupted", statusOf(orphan))
	require.Equal(t, 1, count(t, live.Pool(), `SELECT count(*) FROM export_run_targets WHERE status = 'interrupted'`))

	n, err := live.AbandonStaleRuns(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n, "a process never abandons its own live run")

	require.NoError(t, live.FinishRun(ctx, liveRun, db.RunResult{Status: db.StatusSucceeded}))
	require.Equal(t, "succeeded", statusOf(liveRun))

	n, err = other.AbandonStaleRuns(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

func TestUpsertInstancesWritesOnlyChanges(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	on := true
	insts := []atlas.Instance{
		{ProjectID: "p", Name: "a", Family: atlas.Flex, State: "IDLE", MongoDBVersion: "8.0", BackupEnabled: &on, Raw: []byte(`{"name":"a"}`)},
		{ProjectID: "p", Name: "b", Family: atlas.Serverless},
	}
	require.NoError(t, d.UpsertInstances(ctx, insts, at(0)))

	const xmins = `SELECT string_agg(name || ':' || xmin::text, ',' ORDER BY name) FROM instances`
	var before string
	require.NoError(t, d.Pool().QueryRow(ctx, xmins).Scan(&before))

	require.NoError(t, d.UpsertInstances(ctx, insts, at(1)))
	var after string
	require.NoError(t, d.Pool().QueryRow(ctx, xmins).Scan(&after))
	require.Equal(t, before, after, "unchanged instances are not rewritten")

	insts[0].State = "UPDATING"
	insts[1].State = ""
	require.NoError(t, d.UpsertInstances(ctx, insts, at(2)))

	var state string
	var firstSeen, updated time.Time
	err := d.Pool().QueryRow(ctx, `SELECT state, first_seen_at, updated_at FROM instances WHERE name = 'a'`).
		Scan(&state, &firstSeen, &updated)
	require.NoError(t, err)
	require.Equal(t, "UPDATING", state)
	require.True(t, firstSeen.Equal(at(0)))
	require.True(t, updated.Equal(at(2)))
}
