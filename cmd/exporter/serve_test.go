package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/metrics"
)

// syncBuffer is a log destination shared by goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// serveConfig is a configuration for serve against sim and dbURL.
func serveConfig(sim *procSim, creds procCreds, dbURL, schedule string) config.Config {
	return config.Config{
		DatabaseURL: dbURL, BaseURL: sim.url,
		ClientID: creds.clientID, ClientSecret: creds.clientSecret,
		Targets:  []atlas.Target{{ProjectID: projectP}},
		Schedule: schedule, Concurrency: 2, PageSize: 5, RateLimit: 100000,
		RequestTimeout: 10 * time.Second, RunTimeout: time.Minute, StatementTimeout: time.Minute,
		MaxRetries: 1, Schema: db.DefaultSchema, Shard: config.Shard{Index: 0, Count: 1},
		ListenAddr: "127.0.0.1:0", RunOnStart: true, ShutdownTimeout: 10 * time.Second,
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()

	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	return resp.StatusCode, string(body)
}

// serve runs a pass at start and then on its schedule, serves the probes
// and the metrics, and stops cleanly (exit 0) on SIGTERM.
func TestServe(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	prodAddInstance(sim, projectP, "a", atlas.Flex, 6)
	prodAddInstance(sim, projectP, "b", atlas.Serverless, 4)

	dbURL := dbtest.NewURL(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })

	svc, err := newService(ctx, serveConfig(sim, creds, dbURL, "@every 1s"), testLogger(logs))
	require.NoError(t, err)
	t.Cleanup(svc.close)

	passes := make(chan export.Result, 10)
	inner := svc.sched.pass
	svc.sched.pass = func(ctx context.Context, obs export.Observer) (export.Result, error) {
		res, err := inner(ctx, obs)
		passes <- res

		return res, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svc.serveOn(ln)
	base := "http://" + ln.Addr().String()

	stopped := make(chan error, 1)
	go func() { stopped <- svc.run(ctx) }()

	for range 2 { // the one at start, then one on the schedule
		require.Equal(t, db.StatusSucceeded, (<-passes).Status)
	}

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	procKeepText(t, "serve (in process): GET /metrics", body)
	for _, want := range []string{
		`atlas_snapshot_exporter_runs_total{status="succeeded"}`,
		`atlas_snapshot_exporter_target_last_success_timestamp_seconds{instance="a",project_id="` + projectP + `"}`,
		`atlas_snapshot_exporter_snapshots_seen_total`,
		`atlas_snapshot_exporter_atlas_requests_total{family="serverless",status="200"}`,
		`go_goroutines`,
	} {
		require.Contains(t, body, want)
	}

	cancel(signalError{syscall.SIGTERM})
	err = <-stopped
	require.ErrorIs(t, err, errServeStopped)
	require.Equal(t, exitOK, exitCode(ctx, err))
	procKeepText(t, "serve (in process): logs", logs.String())
}

// A tick that arrives while a pass runs is skipped and logged; the next
// tick after the pass runs again.
func TestServeSkipsOverlappingTicks(t *testing.T) {
	t.Parallel()

	logs := &syncBuffer{}
	entered, release := make(chan struct{}), make(chan struct{})
	calls := 0
	s := &scheduler{log: testLogger(logs), metrics: metrics.New(), pass: func(context.Context, export.Observer) (export.Result, error) {
		calls++
		if calls == 1 {
			close(entered)
			<-release
		}

		return export.Result{Status: db.StatusSucceeded}, nil
	}}

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.tick(context.Background())
	}()

	<-entered
	s.tick(context.Background())
	require.Contains(t, logs.String(), "schedule tick skipped")

	close(release)
	<-done
	s.tick(context.Background())
	require.Equal(t, 2, calls)
}

// A panic inside a pass becomes a failed run that carries the panic's
// message, whether it came before or after the run's row was written, and
// the scheduler goes on with the next tick.
func TestServePanicIsFailedRun(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name         string
		afterStarted bool
	}{
		{name: "after the run started", afterStarted: true},
		{name: "before the run started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			dbURL := dbtest.NewURL(t)
			database := dbtest.Open(t, dbURL)
			panics := true
			s := &scheduler{log: testLogger(io.Discard), db: database, metrics: metrics.New(),
				pass: func(ctx context.Context, obs export.Observer) (export.Result, error) {
					if !panics {
						return export.Result{Status: db.StatusSucceeded}, nil
					}

					if tt.afterStarted {
						id, err := database.StartRun(ctx, db.RunParams{Host: "test", PID: 1, Version: "test"})
						require.NoError(t, err)
						obs.RunStarted(id)
					}

					panic("boom in the pass")
				}}

			s.tick(context.Background())

			conn := procOpenDB(t, dbURL)
			var status, msg string
			require.NoError(t, conn.QueryRowContext(t.Context(),
				`SELECT status, error FROM atlas_backup.export_runs`).Scan(&status, &msg))
			require.Equal(t, "failed", status)
			require.Equal(t, "panic: boom in the pass", msg)
			requireNoRunning(t, conn)

			panics = false
			s.tick(context.Background())
		})
	}
}

func requireNoRunning(t *testing.T, conn *sql.DB) {
	t.Helper()

	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'running'`))
}

// /readyz fails while the schema is dirty, naming the fix.
func TestReadyzDirtySchema(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.NewURL(t)
	r := &readiness{db: dbtest.Open(t, dbURL)}
	require.NoError(t, r.check(t.Context()))

	r.checked = time.Time{}
	_, err := procOpenDB(t, dbURL).ExecContext(t.Context(), `UPDATE atlas_backup.schema_migrations SET dirty = true`)
	require.NoError(t, err)

	err = r.check(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), "exporter migrate force")
}

// Past EXPORTER_SHUTDOWN_TIMEOUT after a signal, the process exits with
// the signal's code; a process that finishes in time is left alone.
func TestWatchShutdown(t *testing.T) {
	exited := make(chan int, 1)
	exitProcess = func(code int) { exited <- code }
	t.Cleanup(func() { exitProcess = os.Exit })

	ctx, cancel := context.WithCancelCause(context.Background())
	stop := watchShutdown(ctx, 50*time.Millisecond, testLogger(io.Discard))
	cancel(signalError{syscall.SIGTERM})
	require.Equal(t, exitTerminated, <-exited)
	stop()

	ctx, cancel = context.WithCancelCause(context.Background())
	stop = watchShutdown(ctx, time.Hour, testLogger(io.Discard))
	cancel(signalError{syscall.SIGINT})
	stop()
	require.Empty(t, exited)
}

// The schedule accepts descriptors, five fields and a CRON_TZ prefix.
func TestCronParser(t *testing.T) {
	t.Parallel()

	for _, spec := range []string{"@hourly", "@every 90s", "15 */2 * * *", "CRON_TZ=Europe/Paris 0 3 * * 1-5"} {
		_, err := cronParser.Parse(spec)
		require.NoError(t, err, spec)
	}

	_, err := cronParser.Parse("0 0 3 * * *") // six fields: seconds are not offered
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "expected"), err.Error())
}
