package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/metrics"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/migrations"
)

// errServeStopped is serve's outcome after a clean shutdown: exit 0, even
// though a signal started it.
var errServeStopped = errors.New("serve stopped")

// cronParser reads EXPORTER_SCHEDULE: five fields or a descriptor, with an
// optional CRON_TZ= prefix (the same parser config validates with).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// runServe is `exporter serve`: passes on EXPORTER_SCHEDULE, never two at
// once, and /healthz, /readyz and /metrics on EXPORTER_LISTEN_ADDR.
func runServe(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := cfg.RequireExport(); err != nil {
		return err
	}

	logStart(logger, "serve", cfg)

	// The address is taken before any database I/O: a bad or busy one is a
	// configuration error, and should say so at once.
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return &config.Error{Var: "EXPORTER_LISTEN_ADDR", Value: cfg.ListenAddr, Reason: "cannot listen: " + err.Error()}
	}

	svc, err := newService(ctx, cfg, logger)
	if err != nil {
		ln.Close()

		return err
	}
	defer svc.close()

	svc.serveOn(ln)

	return svc.run(ctx)
}

// service is a running `exporter serve`.
type service struct {
	cfg     config.Config
	log     *slog.Logger
	db      *db.DB
	metrics *metrics.Metrics
	sched   *scheduler
	ready   *readiness
	http    *http.Server
	served  chan error
}

// newService opens the database (migrating it) and builds the Atlas client
// and the scheduler.
func newService(ctx context.Context, cfg config.Config, logger *slog.Logger) (*service, error) {
	database, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}

	m := metrics.New()
	client, err := newClient(cfg, logger, m)
	if err != nil {
		database.Close()

		return nil, err
	}

	s := &service{cfg: cfg, log: logger, db: database, metrics: m, ready: &readiness{db: database}}
	s.sched = &scheduler{
		log:     logger,
		db:      database,
		metrics: m,
		pass: func(ctx context.Context, obs export.Observer) (export.Result, error) {
			return pass(ctx, cfg, client, database, logger, obs)
		},
	}

	return s, nil
}

func (s *service) close() {
	s.db.Close()
}

// serveOn serves the probes and metrics on ln.
func (s *service) serveOn(ln net.Listener) {
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan error, 1)
	go func() { s.served <- s.http.Serve(ln) }()

	s.log.Info("http listening", "addr", ln.Addr().String())
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.ready.serveHTTP)
	mux.Handle("GET /metrics", s.metrics.Handler())

	return mux
}

// run schedules passes until ctx ends, then stops: no new pass, the running
// one cancelled (by ctx) and waited for, the HTTP server closed.
func (s *service) run(ctx context.Context) error {
	c := cron.New(cron.WithParser(cronParser), cron.WithLogger(cron.DiscardLogger))
	if _, err := c.AddFunc(s.cfg.Schedule, func() { s.sched.tick(ctx) }); err != nil {
		return &config.Error{Var: "EXPORTER_SCHEDULE", Value: s.cfg.Schedule, Reason: err.Error()}
	}

	c.Start()
	s.log.Info("schedule started", "schedule", s.cfg.Schedule, "run_on_start", s.cfg.RunOnStart)

	var first sync.WaitGroup
	if s.cfg.RunOnStart {
		first.Go(func() { s.sched.tick(ctx) })
	}

	select {
	case <-ctx.Done():
	case err := <-s.served:
		ctx = context.Background()
		s.log.Error("http server stopped", "err", err)
	}

	return s.shutdown(ctx, c, &first)
}

// shutdown waits for the passes to end and closes the HTTP server. The
// watchdog (EXPORTER_SHUTDOWN_TIMEOUT) bounds how long this may take.
func (s *service) shutdown(ctx context.Context, c *cron.Cron, first *sync.WaitGroup) error {
	s.log.Info("shutting down", "cause", fmt.Sprint(context.Cause(ctx)))

	<-c.Stop().Done()
	first.Wait()

	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(hctx); err != nil {
		return fmt.Errorf("stop the http server: %w", err)
	}

	if ctx.Err() == nil {
		return errors.New("http server stopped unexpectedly")
	}

	s.log.Info("serve stopped")

	return errServeStopped
}

// scheduler runs passes one at a time: a tick that finds a pass running is
// skipped, and a panic in a pass becomes a failed run.
type scheduler struct {
	log     *slog.Logger
	db      *db.DB
	metrics *metrics.Metrics
	pass    func(ctx context.Context, obs export.Observer) (export.Result, error)

	busy atomic.Bool
}

// tick runs one pass unless one is already running.
func (s *scheduler) tick(ctx context.Context) {
	if !s.busy.CompareAndSwap(false, true) {
		s.log.Warn("schedule tick skipped: a pass is still running")
		s.metrics.TickSkipped()

		return
	}
	defer s.busy.Store(false)

	if ctx.Err() != nil {
		return
	}

	s.metrics.PassRunning(true)
	defer s.metrics.PassRunning(false)

	s.runPass(ctx)
}

// runPass runs the pass and turns a panic into a failed run.
func (s *scheduler) runPass(ctx context.Context) {
	start := time.Now()
	obs := &passObserver{Observer: s.metrics}

	defer func() {
		if p := recover(); p != nil {
			s.recordPanic(obs, p, debug.Stack(), time.Since(start))
		}
	}()

	if _, err := s.pass(ctx, obs); err != nil {
		s.log.Error("pass could not be recorded", "err", err)
		s.metrics.RunDone(db.StatusFailed, time.Since(start))
	}
}

// recordPanic logs the panic and records the run as failed with its
// message, creating the run's row when the panic came before it existed.
func (s *scheduler) recordPanic(obs *passObserver, p any, stack []byte, d time.Duration) {
	msg := fmt.Sprintf("panic: %v", p)
	s.log.Error("pass panicked", "err", msg, "stack", string(stack))
	s.metrics.RunDone(db.StatusFailed, d)

	if obs.finished.Load() {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	runID := obs.runID.Load()
	if runID == 0 {
		host, _ := os.Hostname()
		id, err := s.db.StartRun(ctx, db.RunParams{Host: host, PID: os.Getpid(), Version: version})
		if err != nil {
			s.log.Error("record the panicked run", "err", err)

			return
		}

		runID = id
	}

	if err := s.db.FinishRun(ctx, runID, db.RunResult{Status: db.StatusFailed, Error: msg}); err != nil {
		s.log.Error("record the panicked run", "run_id", runID, "err", err)
	}
}

// passObserver passes events on to the metrics and remembers the run id,
// which a panic needs to record the run.
type passObserver struct {
	export.Observer
	runID    atomic.Int64
	finished atomic.Bool
}

func (o *passObserver) RunStarted(id int64) {
	o.runID.Store(id)
	o.Observer.RunStarted(id)
}

func (o *passObserver) RunFinished(r export.Result) {
	o.finished.Store(true)
	o.Observer.RunFinished(r)
}

// readiness answers /readyz: the database answers and its schema is at the
// newest migration this binary knows, not dirty. The migration check is
// cached for a minute once it passed: it takes golang-migrate's lock.
type readiness struct {
	db *db.DB

	mu      sync.Mutex
	checked time.Time
}

func (r *readiness) serveHTTP(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 3*time.Second)
	defer cancel()

	if err := r.check(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)

		return
	}

	fmt.Fprintln(w, "ready")
}

func (r *readiness) check(ctx context.Context) error {
	if err := r.db.Ping(ctx); err != nil {
		return err
	}

	r.mu.Lock()
	defer r.mu.Unlock()

	if time.Since(r.checked) < time.Minute {
		return nil
	}

	if err := migrationsCurrent(ctx, r.db); err != nil {
		return err
	}

	r.checked = time.Now()

	return nil
}

// migrationsCurrent checks the schema's migration version against the
// newest embedded migration.
func migrationsCurrent(ctx context.Context, database *db.DB) error {
	v, dirty, err := database.MigrateVersion(ctx)
	if err != nil {
		return err
	}

	want, err := latestMigration()
	if err != nil {
		return err
	}

	switch {
	case dirty:
		return &db.DirtyError{Version: v}
	case v != want:
		return fmt.Errorf("schema at migration %d, this exporter expects %d", v, want)
	}

	return nil
}

// latestMigration is the highest NNNN of the embedded *.up.sql files.
func latestMigration() (uint, error) {
	names, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil {
		return 0, fmt.Errorf("list embedded migrations: %w", err)
	}

	var latest uint
	for _, name := range names {
		prefix, _, _ := strings.Cut(name, "_")
		n, err := strconv.ParseUint(prefix, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("migration file %s: no version number", name)
		}

		latest = max(latest, uint(n))
	}

	return latest, nil
}
