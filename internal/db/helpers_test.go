package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

var flexA = atlas.Instance{ProjectID: "5f1a0000000000000000000a", Name: "flex-a", Family: atlas.Flex}

// at returns a fixed instant plus h hours, in UTC.
func at(h int) time.Time {
	return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
}

// flexSnap builds a Flex snapshot of flexA with its raw JSON.
func flexSnap(t *testing.T, id, status string, state atlas.State) atlas.Snapshot {
	t.Helper()

	start := at(-24)
	exp := at(24 * 7)
	raw, err := json.Marshal(map[string]any{
		"id": id, "status": status, "startTime": start.Format(time.RFC3339),
		"expiration": exp.Format(time.RFC3339), "mongoDBVersion": "8.0.4",
	})
	require.NoError(t, err)

	return atlas.Snapshot{
		ID: id, ProjectID: flexA.ProjectID, InstanceName: flexA.Name, Family: atlas.Flex,
		Status: status, State: state, TakenAt: &start, DownloadExpiresAt: &exp,
		MongoDBVersion: "8.0.4", Raw: raw,
	}
}

// export runs one target transaction: stage the pages, merge, commit.
func export(t *testing.T, d *db.DB, runID int64, inst atlas.Instance, pages [][]atlas.Snapshot,
	removed []string, observed time.Time) db.MergeResult {
	t.Helper()

	ctx := context.Background()
	tx, err := d.BeginTarget(ctx, runID, inst)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(ctx)) }()

	for _, page := range pages {
		require.NoError(t, tx.Stage(ctx, page))
	}

	res, err := tx.Merge(ctx, db.MergeParams{ObservedAt: observed, Removed: removed})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	return res
}

type snapshotRow struct {
	ID         string
	Status     *string
	State      *string
	Version    int
	RemovedAt  *time.Time
	FirstSeen  time.Time
	LastSeen   time.Time
	TakenAt    *time.Time
	StorageRaw *string
}

// readSnapshots reads every snapshot row by id.
func readSnapshots(t *testing.T, pool *pgxpool.Pool) map[string]snapshotRow {
	t.Helper()

	const query = `SELECT id, status, state, version, removed_at, first_seen_at, last_seen_at, taken_at,
    raw->>'storageSizeBytes'
FROM snapshots ORDER BY id`

	rows, err := pool.Query(context.Background(), query)
	require.NoError(t, err)

	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[snapshotRow])
	require.NoError(t, err)

	out := make(map[string]snapshotRow, len(list))
	for _, r := range list {
		out[r.ID] = r
	}

	return out
}

type versionRow struct {
	ID        string
	Version   int
	Status    *string
	ValidFrom time.Time
	ValidTo   *time.Time
	Change    string
	RunID     *int64
}

// readVersions reads the history of one snapshot, oldest first.
func readVersions(t *testing.T, pool *pgxpool.Pool, id string) []versionRow {
	t.Helper()

	const query = `SELECT id, version, status, valid_from, valid_to, change, run_id
FROM snapshot_versions WHERE id = $1 ORDER BY version`

	rows, err := pool.Query(context.Background(), query, id)
	require.NoError(t, err)

	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[versionRow])
	require.NoError(t, err)

	return list
}

// rowVersions maps every row of snapshots and snapshot_versions to its xmin:
// a row rewritten, even with equal values, gets a new xmin.
func rowVersions(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()

	const query = `SELECT 'snapshot ' || id, xmin::text FROM snapshots
UNION ALL
SELECT 'version ' || id || ' ' || version, xmin::text FROM snapshot_versions`

	rows, err := pool.Query(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()

	out := map[string]string{}

	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		out[k] = v
	}
	require.NoError(t, rows.Err())

	return out
}

// count runs a count query.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()

	var n int
	require.NoError(t, pool.QueryRow(context.Background(), query, args...).Scan(&n))

	return n
}

// startRun starts a run for tests that need a run id.
func startRun(t *testing.T, d *db.DB) int64 {
	t.Helper()

	id, err := d.StartRun(context.Background(), db.RunParams{Host: "test", PID: 1, Version: "test"})
	require.NoError(t, err)

	return id
}
