package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// prodChild is an exporter process started without waiting for it.
type prodChild struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr bytes.Buffer
}

// prodStart starts the exporter with args in env; wait collects it.
func prodStart(t *testing.T, env procEnv, args ...string) *prodChild {
	t.Helper()

	c := &prodChild{cmd: exec.Command(procBinary, args...), args: args}
	c.cmd.Env = env.list()
	c.cmd.Dir = t.TempDir()
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	require.NoError(t, c.cmd.Start())
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})

	return c
}

// wait waits at most procChildTimeout for the process, keeps its output
// for the leak checks, and returns how it ended.
func (c *prodChild) wait(t *testing.T) procResult {
	t.Helper()

	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()

	var err error
	select {
	case err = <-done:
	case <-time.After(procChildTimeout):
		_ = c.cmd.Process.Kill()
		<-done
		t.Fatalf("exporter %s did not finish in %s", strings.Join(c.args, " "), procChildTimeout)
	}

	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("exporter %s: %v", strings.Join(c.args, " "), err)
	}

	res := procResult{code: c.cmd.ProcessState.ExitCode(), stdout: c.stdout.String(), stderr: c.stderr.String()}
	procKeep(t, c.args, res)

	return res
}

var prodSnapshotSeq atomic.Uint64

// prodAddInstance adds an instance with n completed daily snapshots whose
// ids are unique in the test binary.
func prodAddInstance(sim *procSim, projectID, name string, f atlas.Family, n int) {
	sim.AddInstance(projectID, name, f)

	base := time.Date(2026, time.October, 1, 3, 0, 0, 0, time.UTC)
	for i := range n {
		at := base.Add(time.Duration(i) * 24 * time.Hour)
		id := fmt.Sprintf("%024x", 0xfeed00000+prodSnapshotSeq.Add(1))
		if f == atlas.Flex {
			sim.PutSnapshot(projectID, "flex:"+name, atlassim.FlexSnapshot(id, at, "COMPLETED"))
		} else {
			sim.PutSnapshot(projectID, "serverless:"+name, atlassim.ServerlessSnapshot(id, at, "COMPLETED", int64(1000+i)))
		}
	}
}

// prodEnv is procExportEnv with small pages and no pacing.
func prodEnv(sim *procSim, creds procCreds, dbURL, targets string) procEnv {
	return procExportEnv(sim, creds, dbURL, targets).with(procEnv{
		"EXPORTER_PAGE_SIZE": "5", "EXPORTER_RATE_LIMIT": "100000", "LOG_LEVEL": "info",
	})
}

const (
	projectP = "5f1a000000000000000000a1"
	projectQ = "5f1a000000000000000000b2"
)

// SIGTERM in the middle of a listing: the targets already merged stay, the
// one being listed leaves nothing behind, the run is recorded interrupted
// and the process exits 143 well within EXPORTER_SHUTDOWN_TIMEOUT.
func TestSigtermMidRun(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	for _, name := range []string{"a", "b", "c"} {
		prodAddInstance(sim, projectP, name, atlas.Flex, 12)
	}

	reached := make(chan struct{})
	var once sync.Once
	sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
		if strings.Contains(r.URL.Path, "/flexClusters/c/") && r.URL.Query().Get("pageNum") == "2" {
			once.Do(func() { close(reached) })

			return &atlassim.Fault{Delay: time.Minute} // held until the client gives up
		}

		return nil
	})

	dbURL := dbtest.NewURL(t)
	env := prodEnv(sim, creds, dbURL, "flex:"+projectP+"/a,flex:"+projectP+"/b,flex:"+projectP+"/c").with(procEnv{
		"EXPORTER_CONCURRENCY": "1", "EXPORTER_SHUTDOWN_TIMEOUT": "10s",
	})
	c := prodStart(t, env, "run")

	select {
	case <-reached:
	case <-time.After(procChildTimeout):
		t.Fatal("the run never reached target c page 2")
	}

	signalled := time.Now()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	res := c.wait(t)
	require.Equal(t, exitTerminated, res.code)
	require.Less(t, time.Since(signalled), 10*time.Second)

	conn := procOpenDB(t, dbURL)
	require.Equal(t, 1, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'interrupted'`))
	require.Equal(t, 0, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'running'`))
	require.Equal(t, 2, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_run_targets WHERE status = 'succeeded'`))
	require.Equal(t, 1, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_run_targets WHERE status = 'interrupted' AND instance_name = 'c'`))

	for name, want := range map[string]int{"a": 12, "b": 12, "c": 0} {
		require.Equal(t, want, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshots WHERE instance_name = $1`, name), name)
		require.Equal(t, want, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshot_versions v
JOIN atlas_backup.snapshots s ON s.id = v.id WHERE s.instance_name = $1`, name), name)
	}
}

// Two processes started together on the same targets: each run merges
// every target once, the second finds nothing new, no version is written
// twice, and neither waits forever on the other.
func TestTwoRunsAtOnce(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	for i := range 6 {
		prodAddInstance(sim, projectP, fmt.Sprintf("flex-%d", i), atlas.Flex, 23)
	}

	dbURL := dbtest.NewURL(t)
	env := prodEnv(sim, creds, dbURL, projectP).with(procEnv{"EXPORTER_CONCURRENCY": "3"})

	children := []*prodChild{prodStart(t, env, "run"), prodStart(t, env, "run")}
	for _, c := range children {
		require.Equal(t, exitOK, c.wait(t).code)
	}

	p := procOpenDB(t, dbURL)
	require.Equal(t, 2, procCount(t, p, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'succeeded'`))
	require.Equal(t, 0, procCount(t, p, `SELECT count(*) FROM (
    SELECT run_id, target FROM atlas_backup.export_run_targets GROUP BY run_id, target HAVING count(*) > 1) d`))
	require.Equal(t, 12, procCount(t, p, `SELECT count(*) FROM atlas_backup.export_run_targets
    WHERE status = 'succeeded' AND instance_name IS NOT NULL`))
	require.Equal(t, 2, procCount(t, p, `SELECT count(*) FROM atlas_backup.export_run_targets
    WHERE status = 'succeeded' AND instance_name IS NULL`), "each run's discovery of the project")
	require.Equal(t, 6*23, procCount(t, p, `SELECT count(*) FROM atlas_backup.snapshots`))
	require.Equal(t, 6*23, procCount(t, p, `SELECT count(*) FROM atlas_backup.snapshot_versions`), "one version per snapshot")
	require.Equal(t, 6*23, procCount(t, p, `SELECT sum(created) FROM atlas_backup.export_run_targets`), "each snapshot created by one run only")
}

// Four processes migrating an empty database at once: all succeed and the
// schema ends at the newest version.
func TestFourMigrationsAtOnce(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.EmptyURL(t)
	env := procBaseEnv().with(procEnv{"DATABASE_URL": dbURL})

	var children []*prodChild
	for range 4 {
		children = append(children, prodStart(t, env, "migrate", "up"))
	}

	latest, err := latestMigration()
	require.NoError(t, err)
	for _, c := range children {
		res := c.wait(t)
		require.Equal(t, exitOK, res.code)
		require.Contains(t, res.stdout, fmt.Sprintf("at version %d (dirty: false)", latest))
	}
}

// A dirty migration state stops `run` with exit 3 and names the command
// that repairs it: forcing the version before the dirty one, since the
// failed migration was rolled back.
func TestDirtyMigrationStopsRun(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	dbURL := dbtest.NewURL(t)
	_, err := procOpenDB(t, dbURL).ExecContext(context.Background(), `UPDATE atlas_backup.schema_migrations SET dirty = true`)
	require.NoError(t, err)

	res := prodStart(t, prodEnv(sim, creds, dbURL, projectP), "run").wait(t)
	require.Equal(t, exitDatabase, res.code)

	latest, err := latestMigration()
	require.NoError(t, err)
	require.Contains(t, res.stderr, fmt.Sprintf("exporter migrate force %d`", latest-1))
	procRequireNoRequests(t, sim)
}

// A schema migrated by a newer exporter (an image rolled back after the
// upgrade) failed with golang-migrate's "file does not exist". `run`,
// `migrate up` and `migrate down` now stop with exit 3, like any other
// schema problem, and say the schema is newer than this exporter.
func TestNewerSchemaStopsRun(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	dbURL := dbtest.NewURL(t)
	latest, err := latestMigration()
	require.NoError(t, err)
	_, err = procOpenDB(t, dbURL).ExecContext(context.Background(), `UPDATE atlas_backup.schema_migrations SET version = $1`, latest+1)
	require.NoError(t, err)

	for _, args := range [][]string{{"run"}, {"migrate", "up"}, {"migrate", "down", "1"}} {
		res := prodStart(t, prodEnv(sim, creds, dbURL, projectP), args...).wait(t)
		require.Equal(t, exitDatabase, res.code, "%v", args)
		require.Contains(t, res.stderr, fmt.Sprintf(
			"database schema is at migration version %d, newer than this exporter's newest migration %d", latest+1, latest), "%v", args)
		require.NotContains(t, res.stderr, "file does not exist", "%v", args)
	}

	procRequireNoRequests(t, sim)
}

// Three shards of a Kubernetes Indexed Job (and one EXPORTER_SHARD) over
// whole-project targets: after discovery, every instance is exported by
// exactly one shard.
func TestShardsPartitionInstances(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	var all []string
	for i := range 9 {
		prodAddInstance(sim, projectP, fmt.Sprintf("flex-%d", i), atlas.Flex, 2)
		all = append(all, fmt.Sprintf("%s/flex-%d", projectP, i))
	}
	for i := range 4 {
		prodAddInstance(sim, projectQ, fmt.Sprintf("sls-%d", i), atlas.Serverless, 2)
		all = append(all, fmt.Sprintf("%s/sls-%d", projectQ, i))
	}

	dbURL := dbtest.NewURL(t)
	var children []*prodChild
	for i := range 3 {
		shard := procEnv{"EXPORTER_SHARD": "0/3"}
		if i > 0 {
			shard = procEnv{"JOB_COMPLETION_INDEX": fmt.Sprint(i), "EXPORTER_SHARD_COUNT": "3"}
		}

		children = append(children, prodStart(t, prodEnv(sim, creds, dbURL, projectP+","+projectQ).with(shard), "run"))
	}
	for _, c := range children {
		require.Equal(t, exitOK, c.wait(t).code)
	}

	rows, err := procOpenDB(t, dbURL).QueryContext(context.Background(), `SELECT run_id, target FROM atlas_backup.export_run_targets
    WHERE instance_name IS NOT NULL ORDER BY target`)
	require.NoError(t, err)
	defer rows.Close()

	owner := map[string][]int64{}
	for rows.Next() {
		var (
			run    int64
			target string
		)
		require.NoError(t, rows.Scan(&run, &target))
		owner[target] = append(owner[target], run)
	}
	require.NoError(t, rows.Err())

	require.Len(t, owner, len(all), "union: every instance exported")
	for _, key := range all {
		require.Len(t, owner[key], 1, "overlap: %s exported by exactly one shard", key)
	}

	runs := map[int64]bool{}
	for _, r := range owner {
		runs[r[0]] = true
	}
	require.LessOrEqual(t, len(runs), 3)
}

// The shard function itself: for any count, every key belongs to exactly
// one shard.
func TestShardOwnsPartitionsKeys(t *testing.T) {
	t.Parallel()

	for count := 1; count <= 7; count++ {
		for k := range 500 {
			key := fmt.Sprintf("%s/instance-%d", projectP, k)
			owners := 0
			for i := range count {
				if (config.Shard{Index: i, Count: count}).Owns(key) {
					owners++
				}
			}
			require.Equal(t, 1, owners, "count %d key %s", count, key)
		}
	}
}

// `run` pushes its metrics to EXPORTER_PUSHGATEWAY_URL at the end.
func TestRunPushesMetrics(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	prodAddInstance(sim, projectP, "a", atlas.Flex, 7)

	type pushed struct{ method, path, body string }
	got := make(chan pushed, 1)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- pushed{r.Method, r.URL.Path, string(b)}
	}))
	t.Cleanup(gw.Close)

	env := prodEnv(sim, creds, dbtest.NewURL(t), projectP).with(procEnv{"EXPORTER_PUSHGATEWAY_URL": gw.URL})
	require.Equal(t, exitOK, prodStart(t, env, "run").wait(t).code)

	p := <-got
	procKeepText(t, "run: Pushgateway push "+p.path, p.body)
	require.Equal(t, http.MethodPut, p.method)
	require.Equal(t, map[string]string{"job": "atlas_snapshot_exporter", "schema": "atlas_backup", "shard": "0"}, pushGroup(t, p.path))
	for _, want := range []string{`runs_total{status="succeeded"} 1`, `snapshots_seen_total 7`, `atlas_requests_total{family="flex",status="200"}`} {
		require.Contains(t, p.body, want)
	}
}

// pushGroup reads the grouping labels of a Pushgateway path, whose order
// the client does not fix: /metrics/job/J/name/value/...
func pushGroup(t *testing.T, path string) map[string]string {
	t.Helper()

	parts := strings.Split(strings.TrimPrefix(path, "/metrics/"), "/")
	require.Zero(t, len(parts)%2, path)

	group := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		group[parts[i]] = parts[i+1]
	}

	return group
}
