package export_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
)

// Database faults during a target's transaction: the target fails, rolls
// back, and the next run converges.

// holdRowLock locks one snapshot row in a transaction of its own, so that
// a merge that updates the row waits for it. The lock is released when the
// returned function is called.
func (h *harness) holdRowLock(id string) func() {
	h.t.Helper()

	ctx := context.Background()
	tx, err := h.pool.Begin(ctx)
	require.NoError(h.t, err)

	_, err = tx.Exec(ctx, `SELECT id FROM atlas_backup.snapshots WHERE id = $1 FOR UPDATE`, id)
	require.NoError(h.t, err)

	return func() { _ = tx.Rollback(ctx) }
}

// mergeBackend waits until a backend of the exporter (application_name
// dbtest) waits for a row lock, which only the merge's update does, and
// returns its pid.
func (h *harness) mergeBackend(ctx context.Context) int {
	h.t.Helper()

	const query = `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'dbtest' AND wait_event_type = 'Lock'`

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()

	for {
		var pid int
		err := h.pool.QueryRow(ctx, query).Scan(&pid)
		if err == nil {
			return pid
		}

		require.ErrorIs(h.t, err, pgx.ErrNoRows)
		select {
		case <-ctx.Done():
			h.t.Fatal("no merge waited for the row lock")
		case <-tick.C:
		}
	}
}

// The backend of a merge is terminated while the merge statement runs:
// that target fails and is rolled back, the other target of the run
// exports, and the next run converges.
func TestMergeBackendTerminated(t *testing.T) {
	t.Parallel()

	h := newFaultHarness(t, options{})
	ids := h.addFlex(projectA, "c1", 7)
	h.addFlex(projectA, "c2", 3)
	h.run(target(projectA, "c1"))
	before := h.rowStamps()

	h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[0], t0, "FAILED"))
	release := h.holdRowLock(ids[0])

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	killed := make(chan bool, 1)
	go func() {
		defer release()

		var ok bool
		pid := h.mergeBackend(ctx)
		if err := h.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil {
			t.Errorf("terminate backend %d: %v", pid, err)
		}
		killed <- ok
	}()

	res := h.run(target(projectA, "c1"))
	require.True(t, <-killed, "the merge's backend was terminated")

	require.Equal(t, 1, res.Failed())
	require.Contains(t, res.Targets[0].Err.Error(), "merge "+projectA+"/c1")
	require.Equal(t, before, h.rowStamps(), "the target rolled back")
	status, _ := h.targetRow(res.RunID, key(projectA, "c1"))
	require.Equal(t, "failed", status)

	res = h.run(target(projectA, "c1"), target(projectA, "c2"))
	require.Zero(t, res.Failed(), "%v", res.Targets)
	h.requireMirror(projectA, "c1")
	h.requireMirror(projectA, "c2")
}

// A statement timeout hit during a merge fails the target cleanly: a clear
// error, its own error code, nothing written; the next run converges.
func TestMergeStatementTimeout(t *testing.T) {
	t.Parallel()

	h := newFaultHarness(t, options{})
	ids := h.addFlex(projectA, "c1", 7)
	h.run(target(projectA, "c1"))
	before := h.rowStamps()

	h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[0], t0, "FAILED"))
	release := h.holdRowLock(ids[0])
	defer release()

	short, err := db.Open(t.Context(), db.Config{
		URL: h.pool.Config().ConnString(), StatementTimeout: 300 * time.Millisecond, AppName: "dbtest",
	})
	require.NoError(t, err)
	defer short.Close()

	res, err := export.New(h.client(), short, h.logger()).Run(t.Context(), export.Params{
		Targets: []atlas.Target{target(projectA, "c1")}, Concurrency: 1, Host: "test", PID: 1, Version: "test",
	})
	require.NoError(t, err)

	require.Equal(t, 1, res.Failed())
	msg := res.Targets[0].Err.Error()
	require.Contains(t, msg, "merge "+projectA+"/c1")
	require.Contains(t, msg, "statement timeout")
	require.Equal(t, before, h.rowStamps())
	_, code := h.targetRow(res.RunID, key(projectA, "c1"))
	require.Equal(t, "STATEMENT_TIMEOUT", code)

	release()
	res = h.run(target(projectA, "c1"))
	require.Zero(t, res.Failed())
	h.requireMirror(projectA, "c1")
}
