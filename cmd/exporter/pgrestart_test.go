package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/pgtemp"
)

// restartWait bounds each wait of the restart test: a pass against the
// simulator takes well under a second, a tick comes every second.
const restartWait = 20 * time.Second

// PostgreSQL restarts while `exporter serve` is idle between two passes,
// twice. After the first restart nothing touches serve's pool until the
// next scheduled pass, which must succeed; after the second, /readyz must
// answer ready at once. No pass may fail once the server is back, and
// SIGTERM still ends serve with exit 0. The cluster is the test's own, so
// restarting it disturbs no other test.
func TestServeSurvivesPostgresRestart(t *testing.T) {
	t.Parallel()

	cluster := restartCluster(t)
	creds := procNewCreds()
	sim := procStartSim(t, creds)
	prodAddInstance(sim, projectP, "a", atlas.Flex, 3)

	env := prodEnv(sim, creds, cluster.URL(), projectP).with(procEnv{
		"EXPORTER_SCHEDULE":    "@every 1s",
		"EXPORTER_LISTEN_ADDR": "127.0.0.1:0",
		"LOG_LEVEL":            "debug",
	})
	srv := startServeChild(t, env)
	base := "http://" + srv.listenAddr(t)
	conn := procOpenDB(t, cluster.URL())

	first := srv.restartWhenIdle(t, conn, cluster, base, time.Time{})

	second := srv.restartWhenIdle(t, conn, cluster, base, first.back)
	require.Greater(t, second.run.id, first.run.id)
	t.Logf("first pass after the first restart: run %d, %s after postgres was back",
		second.run.id, second.run.started.Sub(first.back).Round(time.Millisecond))

	requireNoFailureBetween(t, conn, srv, first.back, second.down)

	code, body := get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, "first /readyz after the second restart: %s", body)

	last := srv.waitRun(t, conn, second.back)
	require.Greater(t, last.id, second.run.id)
	requireNoFailureBetween(t, conn, srv, second.back, time.Now())

	metrics := srv.metrics(t, base)
	procKeepText(t, "serve: GET /metrics", metrics)
	require.Contains(t, metrics, `atlas_snapshot_exporter_runs_total{status="succeeded"}`)

	res := srv.stop(t)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stderr, `"msg":"serve stopped"`)
}

// restarted is one restart of PostgreSQL between two passes.
type restarted struct {
	run        exportRun // the pass it followed
	down, back time.Time // when the restart began and ended
}

// restartWhenIdle waits for a pass started at or after since to succeed and
// for serve to be idle, then restarts PostgreSQL: right after a pass, so
// the next tick is about a second away.
func (c *serveChild) restartWhenIdle(t *testing.T, conn *sql.DB, cluster *pgtemp.Cluster, base string, since time.Time) restarted {
	t.Helper()

	r := restarted{run: c.waitRun(t, conn, since)}
	c.waitIdle(t, base)

	r.down = time.Now()
	require.NoError(t, cluster.Restart(t.Context()))
	r.back = time.Now()
	t.Logf("postgres restart after run %d took %s", r.run.id, r.back.Sub(r.down).Round(time.Millisecond))

	return r
}

// restartCluster starts a throwaway cluster of the test's own, stopped when
// the test ends; without PostgreSQL installed the test is skipped (outside
// CI).
func restartCluster(t *testing.T) *pgtemp.Cluster {
	t.Helper()

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, err := pgtemp.Start(t.Context(), logger)
	if os.Getenv("CI") != "true" && errors.Is(err, pgtemp.ErrNotInstalled) {
		t.Skip(err.Error())
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cluster.Stop()) })

	return cluster
}

// serveChild is `exporter serve` running as a child process, its output
// readable while it runs.
type serveChild struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	exited         chan struct{}
}

// startServeChild starts `exporter serve` in env; the process is killed if
// the test ends before stop.
func startServeChild(t *testing.T, env procEnv) *serveChild {
	t.Helper()

	c := &serveChild{cmd: exec.Command(procBinary, "serve"), exited: make(chan struct{})}
	c.cmd.Env = env.list()
	c.cmd.Dir = t.TempDir()
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	require.NoError(t, c.cmd.Start())

	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()

	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
			procKeep(t, []string{"serve", "(killed at the end of the test)"}, c.result())
		}
	})

	return c
}

func (c *serveChild) result() procResult {
	return procResult{code: c.cmd.ProcessState.ExitCode(), stdout: c.stdout.String(), stderr: c.stderr.String()}
}

// waitFor polls cond until it holds. It fails the test when restartWait
// passes or when serve exits first.
func (c *serveChild) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()

	deadline := time.NewTimer(restartWait)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()

	for !cond() {
		select {
		case <-poll.C:
		case <-c.exited:
			procKeep(t, []string{"serve", "(exited early)"}, c.result())
			t.Fatalf("serve exited with %d while waiting for %s", c.cmd.ProcessState.ExitCode(), what)
		case <-deadline.C:
			t.Fatalf("no %s within %s\nstderr:\n%s", what, restartWait, c.stderr.String())
		}
	}
}

// logLine is the part of serve's JSON log lines the test reads.
type logLine struct {
	Time  time.Time `json:"time"`
	Level string    `json:"level"`
	Msg   string    `json:"msg"`
	Addr  string    `json:"addr"`
	Err   string    `json:"err"`
}

// logLines parses serve's log so far; a line cut off mid-write is skipped.
func (c *serveChild) logLines() []logLine {
	var lines []logLine
	sc := bufio.NewScanner(strings.NewReader(c.stderr.String()))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}

	return lines
}

// listenAddr waits for serve to log the address its HTTP server took.
func (c *serveChild) listenAddr(t *testing.T) string {
	t.Helper()

	var addr string
	c.waitFor(t, "http listening log line", func() bool {
		for _, l := range c.logLines() {
			if l.Msg == "http listening" {
				addr = l.Addr
			}
		}

		return addr != ""
	})

	return addr
}

// exportRun is a row of export_runs.
type exportRun struct {
	id      int64
	status  string
	started time.Time
}

// runsBetween lists the runs started in [from, to), oldest first.
func runsBetween(conn *sql.DB, from, to time.Time) ([]exportRun, error) {
	rows, err := conn.Query(`SELECT id, status, started_at FROM atlas_backup.export_runs
		WHERE started_at >= $1 AND started_at < $2 ORDER BY id`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	var runs []exportRun
	for rows.Next() {
		var r exportRun
		if err := rows.Scan(&r.id, &r.status, &r.started); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}

	return runs, rows.Err()
}

// waitRun waits for a succeeded run started at or after since. Queries that
// fail (the test's own connections die with the restart too) are retried.
func (c *serveChild) waitRun(t *testing.T, conn *sql.DB, since time.Time) exportRun {
	t.Helper()

	var found exportRun
	c.waitFor(t, "succeeded run since "+since.Format(time.RFC3339Nano), func() bool {
		runs, err := runsBetween(conn, since, time.Now().Add(time.Hour))
		if err != nil {
			return false
		}

		for _, r := range runs {
			if r.status == "succeeded" {
				found = r

				return true
			}
		}

		return false
	})

	return found
}

// waitIdle waits until no pass is running, so that the restart falls
// between two passes.
func (c *serveChild) waitIdle(t *testing.T, base string) {
	t.Helper()

	c.waitFor(t, "an idle moment between passes", func() bool {
		return strings.Contains(c.metrics(t, base), "\natlas_snapshot_exporter_pass_running 0\n")
	})
}

// metrics is the body of serve's /metrics.
func (c *serveChild) metrics(t *testing.T, base string) string {
	t.Helper()

	code, body := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)

	return body
}

// requireNoFailureBetween checks that every pass in [from, to) succeeded:
// every run row started then, and no error in serve's log then (which also
// names a pass that failed before it could write its row).
func requireNoFailureBetween(t *testing.T, conn *sql.DB, c *serveChild, from, to time.Time) {
	t.Helper()

	var runs []exportRun
	c.waitFor(t, "the list of runs", func() bool { // the test's own connections die with a restart too
		var err error
		runs, err = runsBetween(conn, from, to)

		return err == nil
	})

	for _, r := range runs {
		if r.status != "running" {
			require.Equal(t, "succeeded", r.status, "run %d", r.id)
		}
	}

	for _, l := range c.logLines() {
		if l.Level == "ERROR" && !l.Time.Before(from) && l.Time.Before(to) {
			t.Errorf("after a restart, at %s: %s: %s", l.Time.Format(time.RFC3339Nano), l.Msg, l.Err)
		}
	}
}

// stop sends SIGTERM, waits for serve to exit and keeps its output for the
// leak checks.
func (c *serveChild) stop(t *testing.T) procResult {
	t.Helper()

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))

	select {
	case <-c.exited:
	case <-time.After(restartWait):
		_ = c.cmd.Process.Kill()
		<-c.exited
		t.Fatalf("serve did not stop within %s of SIGTERM", restartWait)
	}

	res := c.result()
	procKeep(t, []string{"serve"}, res)

	return res
}
