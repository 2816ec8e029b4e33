package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// The fixtures below are written straight into the tables inside one
// transaction, relative to that transaction's now(), which the views use
// too: every answer can be worked out by hand and none depends on when the
// test runs. The transaction is rolled back at the end.

const fixtureProject = "5f1a00000000000000000f1x"

const (
	day  = 24 * time.Hour
	mega = int64(1_000_000)
)

// fixture writes rows for one test.
type fixture struct {
	t   *testing.T
	tx  pgx.Tx
	now time.Time
	day time.Time // start of today, UTC
}

// withFixture runs fn in a transaction that is rolled back afterwards.
func withFixture(t *testing.T, fn func(f *fixture)) {
	t.Helper()

	d := dbtest.New(t)
	ctx := context.Background()

	tx, err := d.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, tx.Rollback(ctx)) }()

	var now time.Time
	require.NoError(t, tx.QueryRow(ctx, `SELECT now()`).Scan(&now))

	now = now.UTC()
	fn(&fixture{t: t, tx: tx, now: now, day: now.Truncate(day)})
}

func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()

	_, err := f.tx.Exec(context.Background(), query, args...)
	require.NoError(f.t, err)
}

// instance inserts an instance first seen firstSeen.
func (f *fixture) instance(name string, family atlas.Family, firstSeen time.Time) {
	f.t.Helper()

	f.exec(`INSERT INTO instances (project_id, name, family, first_seen_at, last_listed_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $4)`, fixtureProject, name, family, firstSeen, f.now)
}

// snap is one snapshot row and, when versions is empty, its single created
// version.
type snap struct {
	id, instance string
	family       atlas.Family
	state        atlas.State
	takenAt      time.Time
	expiresAt    *time.Time
	bytes        *int64
	removedAt    *time.Time
}

// snapshot inserts the current row of s and the versions that led to it: a
// created version at takenAt and, when removed, a removed version.
func (f *fixture) snapshot(s snap) {
	f.t.Helper()

	version := 1
	if s.removedAt != nil {
		version = 2
	}

	f.exec(`INSERT INTO snapshots (id, project_id, instance_name, family, status, state, taken_at,
    expires_at, storage_size_bytes, raw, first_seen_at, last_seen_at, removed_at, version)
VALUES ($1, $2, $3, $4, upper($5), $5, $6, $7, $8, '{}', $6, $6, $9, $10)`,
		s.id, fixtureProject, s.instance, s.family, s.state, s.takenAt, s.expiresAt, s.bytes, s.removedAt, version)

	f.version(s, 1, s.bytes, s.takenAt, s.removedAt, "created")
	if s.removedAt != nil {
		f.version(s, 2, s.bytes, *s.removedAt, nil, "removed")
	}
}

// version inserts one snapshot_versions row of s.
func (f *fixture) version(s snap, n int, bytes *int64, from time.Time, to *time.Time, change string) {
	f.t.Helper()

	f.exec(`INSERT INTO snapshot_versions (id, version, project_id, instance_name, family, status, state,
    taken_at, storage_size_bytes, raw, valid_from, valid_to, change)
VALUES ($1, $2, $3, $4, $5, upper($6), $6, $7, $8, '{}', $9, $10, $11)`,
		s.id, n, fixtureProject, s.instance, s.family, s.state, s.takenAt, bytes, from, to, change)
}

// row reads one row of a query into a map of column name to value.
func (f *fixture) row(query string, args ...any) map[string]any {
	f.t.Helper()

	rows := f.rows(query, args...)
	require.Len(f.t, rows, 1, "query: %s", query)

	return rows[0]
}

// rows reads every row of a query into maps of column name to value, times
// in UTC.
func (f *fixture) rows(query string, args ...any) []map[string]any {
	f.t.Helper()

	rows, err := f.tx.Query(context.Background(), query, args...)
	require.NoError(f.t, err)

	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (map[string]any, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}

		m := make(map[string]any, len(vals))
		for i, fd := range r.FieldDescriptions() {
			if tm, ok := vals[i].(time.Time); ok {
				vals[i] = tm.UTC()
			}

			m[fd.Name] = vals[i]
		}

		return m, nil
	})
	require.NoError(f.t, err)

	return out
}

func ptr[T any](v T) *T { return &v }

// TestGrowthOfLinearSizesIsTheExactSlope: one snapshot a day for 31 days,
// each replacing the one before, 1 GB growing by 50 MB a day, so stored bytes
// are a straight line and the least-squares slope is exactly 50 MB a day.
func TestGrowthOfLinearSizesIsTheExactSlope(t *testing.T) {
	t.Parallel()

	withFixture(t, func(f *fixture) {
		f.instance("grow", atlas.Serverless, f.day.Add(-40*day))
		for k := range 31 {
			taken := f.day.Add(time.Duration(k-30)*day + time.Minute)
			s := snap{
				id: fmt.Sprintf("grow-%02d", k), instance: "grow", family: atlas.Serverless,
				state: atlas.StateCompleted, takenAt: taken, bytes: ptr(1000*mega + int64(k)*50*mega),
			}
			if k < 30 {
				s.removedAt = ptr(taken.Add(day))
			}

			f.snapshot(s)
		}

		got := f.row(`SELECT live_snapshots, stored_bytes, stored_bytes_7d_ago, stored_bytes_30d_ago,
    growth_bytes_per_day::text, growth_days, change_7d_pct::text, change_30d_pct::text
FROM instance_growth WHERE instance_name = 'grow'`)

		require.Equal(t, map[string]any{
			"live_snapshots":       int32(1),
			"stored_bytes":         2500 * mega,
			"stored_bytes_7d_ago":  2150 * mega,
			"stored_bytes_30d_ago": 1000 * mega,
			"growth_bytes_per_day": "50000000.000",
			"growth_days":          int32(31),
			"change_7d_pct":        "16.28",
			"change_30d_pct":       "150.00",
		}, got)
	})
}

// TestFreshnessAgainstTheUsualCadence: a daily instance whose newest
// completed snapshot is three days old is overdue; a six-hourly one whose
// newest is four hours old is not; one with too little history falls back
// to a daily cadence.
func TestFreshnessAgainstTheUsualCadence(t *testing.T) {
	t.Parallel()

	withFixture(t, func(f *fixture) {
		series := func(name string, newest, every time.Duration, n int) {
			f.instance(name, atlas.Flex, f.now.Add(-60*day))
			for k := range n {
				f.snapshot(snap{
					id: fmt.Sprintf("%s-%02d", name, k), instance: name, family: atlas.Flex,
					state: atlas.StateCompleted, takenAt: f.now.Add(-newest - time.Duration(k)*every),
				})
			}
		}

		series("daily", 3*day, day, 10)
		series("six-hourly", 4*time.Hour, 6*time.Hour, 10)
		series("young", 2*time.Hour, day, 2)
		f.snapshot(snap{id: "fail-1", instance: "six-hourly", family: atlas.Flex, state: atlas.StateFailed,
			takenAt: f.now.Add(-time.Hour)})
		f.snapshot(snap{id: "fail-2", instance: "six-hourly", family: atlas.Flex, state: atlas.StateFailed,
			takenAt: f.now.Add(-3 * day)})

		tests := []struct {
			name       string
			age        time.Duration
			cadence    *time.Duration
			source     string
			overdue    bool
			failedDay  int32
			failedWeek int32
		}{
			{name: "daily", age: 3 * day, cadence: ptr(day), source: "observed", overdue: true},
			{name: "six-hourly", age: 4 * time.Hour, cadence: ptr(6 * time.Hour), source: "observed",
				failedDay: 1, failedWeek: 2},
			{name: "young", age: 2 * time.Hour, source: "default"},
		}

		for _, tt := range tests {
			got := f.row(`SELECT EXTRACT(epoch FROM age)::float8 AS age,
    EXTRACT(epoch FROM usual_cadence)::float8 AS cadence, cadence_source, overdue,
    failed_last_day, failed_last_week
FROM instance_backup_freshness WHERE instance_name = $1`, tt.name)

			require.Equal(t, tt.age.Seconds(), got["age"], tt.name)
			if tt.cadence == nil {
				require.Nil(t, got["cadence"], tt.name)
			} else {
				require.Equal(t, tt.cadence.Seconds(), got["cadence"], tt.name)
			}

			require.Equal(t, tt.source, got["cadence_source"], tt.name)
			require.Equal(t, tt.overdue, got["overdue"], tt.name)
			require.Equal(t, tt.failedDay, got["failed_last_day"], tt.name)
			require.Equal(t, tt.failedWeek, got["failed_last_week"], tt.name)
		}
	})
}

// storageFixture: a Serverless snapshot taken six days ago at 100 MB that
// grew to 150 MB and then 170 MB two days later, and was removed two days
// after that. It is written the way the merge writes: each change closes
// the current version (an UPDATE) and adds the next. Changes fall late in
// the UTC day, where other time zones are already on the next date.
func storageFixture(f *fixture) {
	f.t.Helper()

	d0 := f.day.Add(-6 * day)
	s := snap{id: "sized", instance: "sized", family: atlas.Serverless, state: atlas.StateCompleted,
		takenAt: d0.Add(22 * time.Hour)}

	f.instance("sized", atlas.Serverless, d0)
	f.exec(`INSERT INTO snapshots (id, project_id, instance_name, family, state, taken_at, raw,
    first_seen_at, last_seen_at, removed_at, version)
VALUES ('sized', $1, 'sized', 'serverless', 'completed', $2, '{}', $2, $2, $3, 4)`,
		fixtureProject, s.takenAt, d0.Add(4*day+23*time.Hour+30*time.Minute))

	steps := []struct {
		at     time.Time
		bytes  int64
		change string
	}{
		{d0.Add(22 * time.Hour), 100 * mega, "created"},
		{d0.Add(2*day + 9*time.Hour), 150 * mega, "updated"},
		{d0.Add(2*day + 23*time.Hour), 170 * mega, "updated"},
		{d0.Add(4*day + 23*time.Hour + 30*time.Minute), 170 * mega, "removed"},
	}
	for i, st := range steps {
		if i > 0 {
			f.exec(`UPDATE snapshot_versions SET valid_to = $1 WHERE id = 'sized' AND valid_to IS NULL`, st.at)
		}

		f.version(s, i+1, ptr(st.bytes), st.at, nil, st.change)
	}
}

// TestStorageDailyReplaysTheHistory: each state of the sized snapshot shows
// on the UTC day it held at the day's end, days without a change carry the
// state, and the removal empties the instance.
func TestStorageDailyReplaysTheHistory(t *testing.T) {
	t.Parallel()

	withFixture(t, func(f *fixture) {
		storageFixture(f)

		got := f.rows(`SELECT (day - (now() AT TIME ZONE 'UTC')::date) AS day, live_snapshots, stored_bytes,
    live_change, bytes_change
FROM instance_storage_daily WHERE instance_name = 'sized' ORDER BY day`)

		type state struct {
			day                int32
			live, liveChange   int32
			bytes, bytesChange int64
		}
		want := []state{
			{-6, 1, 1, 100 * mega, 100 * mega},
			{-5, 1, 0, 100 * mega, 0},
			{-4, 1, 0, 170 * mega, 70 * mega},
			{-3, 1, 0, 170 * mega, 0},
			{-2, 0, -1, 0, -170 * mega},
			{-1, 0, 0, 0, 0},
			{0, 0, 0, 0, 0},
		}

		require.Len(t, got, len(want))
		for i, w := range want {
			require.Equal(t, map[string]any{
				"day": w.day, "live_snapshots": w.live, "live_change": w.liveChange,
				"stored_bytes": w.bytes, "bytes_change": w.bytesChange,
			}, got[i], "day %d", w.day)
		}
	})
}

// TestFlexExpiryFromObservedRetention: Flex snapshots of one instance lived
// eight days before they left the listing, so its live one expires eight
// days after it was taken; Serverless keeps Atlas's own date; a Flex
// instance without history has no expiry.
func TestFlexExpiryFromObservedRetention(t *testing.T) {
	t.Parallel()

	withFixture(t, func(f *fixture) {
		f.instance("flex-8d", atlas.Flex, f.now.Add(-30*day))
		f.instance("flex-new", atlas.Flex, f.now.Add(-day))
		f.instance("sls", atlas.Serverless, f.now.Add(-30*day))

		for k := range 3 {
			taken := f.now.Add(-time.Duration(20+k) * day)
			f.snapshot(snap{id: fmt.Sprintf("old-%d", k), instance: "flex-8d", family: atlas.Flex,
				state: atlas.StateCompleted, takenAt: taken, removedAt: ptr(taken.Add(8 * day))})
		}

		taken := f.now.Add(-day)
		f.snapshot(snap{id: "live-flex", instance: "flex-8d", family: atlas.Flex, state: atlas.StateCompleted, takenAt: taken})
		f.snapshot(snap{id: "live-new", instance: "flex-new", family: atlas.Flex, state: atlas.StateCompleted, takenAt: taken})
		f.snapshot(snap{id: "live-sls", instance: "sls", family: atlas.Serverless, state: atlas.StateCompleted,
			takenAt: taken, expiresAt: ptr(taken.Add(14 * day))})

		got := f.rows(`SELECT snapshot_id, expires_at, EXTRACT(epoch FROM time_left)::float8 AS left,
    expiry_source, EXTRACT(epoch FROM observed_retention)::float8 AS retention, retention_sample
FROM snapshot_expiry ORDER BY snapshot_id`)

		require.Equal(t, []map[string]any{
			{"snapshot_id": "live-flex", "expires_at": taken.Add(8 * day), "left": (7 * day).Seconds(),
				"expiry_source": "observed", "retention": (8 * day).Seconds(), "retention_sample": int32(3)},
			{"snapshot_id": "live-new", "expires_at": nil, "left": nil,
				"expiry_source": "none", "retention": nil, "retention_sample": int32(0)},
			{"snapshot_id": "live-sls", "expires_at": taken.Add(14 * day), "left": (13 * day).Seconds(),
				"expiry_source": "atlas", "retention": nil, "retention_sample": nil},
		}, got)
	})
}

// TestExportHealthCountsFailuresSinceSuccess: a target that succeeded once
// and then failed twice has two consecutive failures; one that never
// succeeded counts every failure.
func TestExportHealthCountsFailuresSinceSuccess(t *testing.T) {
	t.Parallel()

	withFixture(t, func(f *fixture) {
		for run := 1; run <= 3; run++ {
			f.exec(`INSERT INTO export_runs (id, started_at, finished_at, status) VALUES ($1, $2, $2, 'partial')`,
				run, f.now.Add(time.Duration(run-4)*time.Hour))
		}

		outcomes := map[string][]string{
			"p/flaky":  {"succeeded", "failed", "failed"},
			"p/broken": {"failed", "interrupted", "failed"},
			"p/fine":   {"failed", "succeeded", "succeeded"},
		}
		for target, statuses := range outcomes {
			for i, st := range statuses {
				f.exec(`INSERT INTO export_run_targets (run_id, target, project_id, status, started_at, finished_at)
VALUES ($1, $2, 'p', $3, $4, $4)`, i+1, target, st, f.now.Add(time.Duration(i-3)*time.Hour))
			}
		}

		got := f.rows(`SELECT target, last_status, last_success_run_id, consecutive_failures
FROM export_health ORDER BY target`)

		require.Equal(t, []map[string]any{
			// The interrupted export in between is a shutdown, not a failure.
			{"target": "p/broken", "last_status": "failed", "last_success_run_id": nil, "consecutive_failures": int32(2)},
			{"target": "p/fine", "last_status": "succeeded", "last_success_run_id": int64(3), "consecutive_failures": int32(0)},
			{"target": "p/flaky", "last_status": "failed", "last_success_run_id": int64(1), "consecutive_failures": int32(2)},
		}, got)
	})
}

// TestViewsIgnoreTheSessionTimeZone reads every view under several session
// time zones in one transaction (so now() stays put) and expects the same
// rows each time. The fixtures put changes late in the UTC day, where the
// other zones' dates differ.
func TestViewsIgnoreTheSessionTimeZone(t *testing.T) {
	t.Parallel()

	views := map[string]string{
		"snapshot_expiry":           "snapshot_id",
		"instance_backup_freshness": "project_id, instance_name",
		"instance_storage_daily":    "project_id, instance_name, day",
		"instance_growth":           "project_id, instance_name",
		"snapshot_failures":         "snapshot_id",
		"export_health":             "target",
	}

	withFixture(t, func(f *fixture) {
		storageFixture(f)
		f.instance("late", atlas.Flex, f.day.Add(-9*day))
		for k := range 6 {
			taken := f.day.Add(time.Duration(k-8)*day + 23*time.Hour + 30*time.Minute)
			f.snapshot(snap{id: fmt.Sprintf("late-%d", k), instance: "late", family: atlas.Flex,
				state: atlas.StateCompleted, takenAt: taken, removedAt: ptr(taken.Add(2 * day))})
		}
		f.snapshot(snap{id: "late-failed", instance: "late", family: atlas.Flex, state: atlas.StateFailed,
			takenAt: f.day.Add(-time.Minute)})
		f.exec(`INSERT INTO export_runs (id, started_at, status) VALUES (1, $1, 'failed')`, f.day.Add(-time.Minute))
		f.exec(`INSERT INTO export_run_targets (run_id, target, project_id, status, started_at)
VALUES (1, $1, $2, 'failed', $3)`, fixtureProject+"/late", fixtureProject, f.day.Add(-time.Minute))

		for view, key := range views {
			var first []map[string]any
			for _, zone := range []string{"UTC", "Pacific/Kiritimati", "America/Adak", "Asia/Kathmandu"} {
				f.exec(`SELECT set_config('TimeZone', $1, true)`, zone)

				got := f.rows(`SELECT * FROM ` + view + ` ORDER BY ` + key)
				require.NotEmpty(t, got, view)

				if first == nil {
					first = got

					continue
				}

				require.Equal(t, first, got, "%s under TimeZone %s", view, zone)
			}
		}
	})
}

// TestStorageChangesMatchTheHistory exports a few listings through the real
// merge (creations, a size change, removals, a reappearance) and checks that
// the trigger-maintained instance_storage_changes equals a reconstruction
// computed from snapshot_versions directly.
func TestStorageChangesMatchTheHistory(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	inst := atlas.Instance{ProjectID: fixtureProject, Name: "merged", Family: atlas.Serverless}
	sized := func(id string, n int64) atlas.Snapshot {
		taken := at(-48)
		raw, err := json.Marshal(map[string]any{"id": id, "storageSizeBytes": n})
		require.NoError(t, err)

		return atlas.Snapshot{ID: id, ProjectID: inst.ProjectID, InstanceName: inst.Name, Family: atlas.Serverless,
			Status: "completed", State: atlas.StateCompleted, TakenAt: &taken, StorageSizeBytes: &n, Raw: raw}
	}

	runID := startRun(t, d)
	listings := []struct {
		at      time.Time
		page    []atlas.Snapshot
		removed []string
	}{
		{at(0), []atlas.Snapshot{sized("a", 10), sized("b", 20)}, nil},
		{at(11), []atlas.Snapshot{sized("a", 15), sized("b", 20), sized("c", 5)}, nil},
		{at(30), []atlas.Snapshot{sized("c", 5)}, []string{"a", "b"}},
		{at(55), []atlas.Snapshot{sized("a", 15), sized("c", 7)}, nil},
		{at(80), []atlas.Snapshot{sized("a", 15), sized("c", 7)}, nil},
	}
	for _, l := range listings {
		export(t, d, runID, inst, [][]atlas.Snapshot{l.page}, l.removed, l.at)
	}

	const diff = `WITH expected AS (
    SELECT project_id, instance_name, day, sum(live) AS live, sum(bytes) AS bytes
    FROM (
        SELECT project_id, instance_name, (valid_from AT TIME ZONE 'UTC')::date AS day,
            1 AS live, coalesce(storage_size_bytes, 0) AS bytes
        FROM snapshot_versions WHERE change <> 'removed'
        UNION ALL
        SELECT project_id, instance_name, (valid_to AT TIME ZONE 'UTC')::date,
            -1, -coalesce(storage_size_bytes, 0)
        FROM snapshot_versions WHERE change <> 'removed' AND valid_to IS NOT NULL
    ) AS e
    GROUP BY project_id, instance_name, day
    HAVING sum(live) <> 0 OR sum(bytes) <> 0
)
SELECT count(*) FROM (
    (SELECT project_id, instance_name, day, live, bytes FROM expected
     EXCEPT SELECT project_id, instance_name, day, live_change, bytes_change FROM instance_storage_changes
        WHERE live_change <> 0 OR bytes_change <> 0)
    UNION ALL
    (SELECT project_id, instance_name, day, live_change, bytes_change FROM instance_storage_changes
        WHERE live_change <> 0 OR bytes_change <> 0
     EXCEPT SELECT project_id, instance_name, day, live, bytes FROM expected)
) AS d`

	require.Equal(t, 0, count(t, d.Pool(), diff))
	require.Equal(t, 2, count(t, d.Pool(), `SELECT live_snapshots FROM instance_storage_daily
WHERE instance_name = 'merged' AND day = (TIMESTAMPTZ '2026-03-04 20:00Z' AT TIME ZONE 'UTC')::date`))
	require.Equal(t, 22, count(t, d.Pool(), `SELECT stored_bytes FROM instance_storage_daily
WHERE instance_name = 'merged' AND day = (TIMESTAMPTZ '2026-03-04 20:00Z' AT TIME ZONE 'UTC')::date`))
}
