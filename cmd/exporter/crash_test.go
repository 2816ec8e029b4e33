package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// The crash loop: the real exporter is killed with SIGKILL at random
// moments of a run, again and again while Atlas changes, then runs once
// cleanly. The database must then equal what the simulator holds, with no
// extra versions, and every killed run must have been marked interrupted by
// a later process. The sizes here are small; scripts/crashloop runs the
// same test larger through the CRASHLOOP_* variables.

// crashEnvInt reads a CRASHLOOP_* size, or def.
func crashEnvInt(t *testing.T, name string, def int) int {
	t.Helper()

	v := os.Getenv(name)
	if v == "" {
		return def
	}

	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)

	return n
}

// crashSim is a simulator with latency, so that a run lasts long enough to
// be killed in the middle, registered for the suite's token leak sweep.
func crashSim(t *testing.T, creds procCreds) *procSim {
	t.Helper()

	srv := atlassim.New(atlassim.Config{
		ClientID: creds.clientID, ClientSecret: creds.clientSecret,
		Latency: 2 * time.Millisecond, NoRequestLog: true,
	})
	running, err := srv.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, running.Close()) })

	procState.Lock()
	procState.sims = append(procState.sims, srv)
	procState.Unlock()

	return &procSim{Server: srv, url: running.URL}
}

// crashWorld is the simulated Atlas of the crash loop and how it changes.
type crashWorld struct {
	sim       *procSim
	project   string
	instances []string
	rng       *rand.Rand
	seq       uint64
	t0        time.Time
}

func (w *crashWorld) populate(instances, snapshots int) {
	for i := range instances {
		name := fmt.Sprintf("crash-%02d", i)
		w.instances = append(w.instances, name)
		w.sim.AddInstance(w.project, name, atlas.Flex)
		for j := range snapshots {
			w.put(name, w.t0.Add(-time.Duration(j)*time.Hour), "COMPLETED")
		}
	}
}

func (w *crashWorld) put(name string, at time.Time, status string) {
	w.seq++
	w.sim.PutSnapshot(w.project, name, atlassim.FlexSnapshot(atlassim.SnapshotID(at, w.seq), at, status))
}

// change makes a few changes between two runs: a new snapshot, a status
// change, a removal, each in a random instance.
func (w *crashWorld) change() {
	pick := func() string { return w.instances[w.rng.IntN(len(w.instances))] }

	w.t0 = w.t0.Add(time.Hour)
	w.put(pick(), w.t0, "QUEUED")

	name := pick()
	if snaps := w.sim.Snapshots(w.project, name); len(snaps) > 1 {
		s := snaps[w.rng.IntN(len(snaps))]
		s["status"] = []string{"FAILED", "COMPLETED", "RUNNING"}[w.rng.IntN(3)]
		w.sim.PutSnapshot(w.project, name, s)
	}

	name = pick()
	if snaps := w.sim.Snapshots(w.project, name); len(snaps) > 1 {
		w.sim.RemoveSnapshot(w.project, name, snaps[len(snaps)-1]["id"].(string))
	}
}

// killAfter starts the exporter and kills it with SIGKILL after d, or lets
// it finish if it is faster. It reports whether the kill landed.
func killAfter(t *testing.T, env procEnv, d time.Duration) bool {
	t.Helper()

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(procBinary, "run")
	cmd.Env = env.list()
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	timer := time.NewTimer(d)
	defer timer.Stop()

	killed := false
	select {
	case <-done:
	case <-timer.C:
		killed = cmd.Process.Kill() == nil // SIGKILL
		<-done
	}

	procKeep(t, []string{"run", "(killed after " + d.String() + ")"}, procResult{
		code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String(),
	})

	return killed
}

func TestSIGKILLAtRandomMoments(t *testing.T) {
	t.Parallel()

	kills := crashEnvInt(t, "CRASHLOOP_KILLS", 10)
	instances := crashEnvInt(t, "CRASHLOOP_INSTANCES", 4)
	snapshots := crashEnvInt(t, "CRASHLOOP_SNAPSHOTS", 20)
	seed := uint64(crashEnvInt(t, "CRASHLOOP_SEED", int(time.Now().UnixNano()%1e6)))
	t.Logf("kills %d, instances %d, snapshots %d, seed %d", kills, instances, snapshots, seed)

	creds := procNewCreds()
	w := &crashWorld{
		sim: crashSim(t, creds), project: "5c0ffee00000000000000c01",
		rng: rand.New(rand.NewPCG(seed, 1)), t0: time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC),
	}
	w.populate(instances, snapshots)

	dbURL := dbtest.NewURL(t)
	conn := procOpenDB(t, dbURL)
	env := procExportEnv(w.sim, creds, dbURL, w.project).with(procEnv{
		"EXPORTER_PAGE_SIZE": "5", "EXPORTER_CONCURRENCY": "3", "LOG_LEVEL": "info",
		// One project holds every cluster: the default per-project pace would make
		// the larger loop of scripts/crashloop last for minutes a run.
		"EXPORTER_RATE_LIMIT": "100000",
	})

	// A clean run first measures how long a run takes.
	start := time.Now()
	require.Equal(t, exitOK, procRun(t, env, "run").code)
	span := time.Since(start)

	landed := 0
	for range kills {
		w.change()
		if killAfter(t, env, time.Duration(w.rng.Int64N(int64(span)))) {
			landed++
		}
	}

	w.change()
	res := procRun(t, env, "run")
	require.Equal(t, exitOK, res.code)
	t.Logf("a run takes %s; %d of %d kills landed", span, landed, kills)

	for _, name := range w.instances {
		crashRequireMirror(t, conn, w.sim, w.project, name)
	}
	crashRequireCleanHistory(t, conn)

	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'running'`),
		"runs left running")
	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_run_targets WHERE status = 'running'`),
		"targets left running")
	interrupted := procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs
		WHERE status = 'interrupted' AND finished_at IS NOT NULL AND error <> ''`)
	runs := procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs`)
	t.Logf("%d runs recorded, %d marked interrupted by a later process", runs, interrupted)
	require.LessOrEqual(t, interrupted, landed)
	if landed > 2 {
		require.NotZero(t, interrupted, "no killed run was marked interrupted")
	}
}

// crashRequireMirror checks one instance: every simulator snapshot stored
// live with the same JSON, every other stored one marked removed.
func crashRequireMirror(t *testing.T, conn *sql.DB, sim *procSim, project, name string) {
	t.Helper()

	want := map[string]any{}
	for _, s := range sim.Snapshots(project, name) {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		want[s["id"].(string)] = crashNorm(t, b)
	}

	rows, err := conn.QueryContext(t.Context(), `SELECT id, raw::text, removed_at IS NOT NULL
		FROM atlas_backup.snapshots WHERE project_id = $1 AND instance_name = $2`, project, name)
	require.NoError(t, err)
	defer rows.Close()

	live := 0
	for rows.Next() {
		var id, raw string
		var removed bool
		require.NoError(t, rows.Scan(&id, &raw, &removed))

		w, ok := want[id]
		require.Equal(t, ok, !removed, "%s snapshot %s: in atlas %t, removed %t", name, id, ok, removed)
		if ok {
			require.True(t, reflect.DeepEqual(w, crashNorm(t, []byte(raw))), "%s snapshot %s raw", name, id)
			live++
		}
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(want), live, "%s: snapshots stored", name)
}

// crashRequireCleanHistory: no version repeats the one before it, and each
// snapshot has exactly one current version, its last.
func crashRequireCleanHistory(t *testing.T, conn *sql.DB) {
	t.Helper()

	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshot_versions a
		JOIN atlas_backup.snapshot_versions b ON b.id = a.id AND b.version = a.version + 1
		WHERE a.change <> 'removed' AND b.change <> 'removed' AND a.raw = b.raw`), "versions that repeat the one before")
	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshots s
		WHERE s.version <> (SELECT max(v.version) FROM atlas_backup.snapshot_versions v WHERE v.id = s.id)
		   OR (SELECT count(*) FROM atlas_backup.snapshot_versions v WHERE v.id = s.id AND v.valid_to IS NULL) <> 1`),
		"snapshots whose current version is not the last one")
}

func crashNorm(t *testing.T, b []byte) any {
	t.Helper()

	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()

	var v any
	require.NoError(t, dec.Decode(&v))

	return v
}
