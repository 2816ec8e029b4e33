package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/metrics"
)

// runExport is `exporter run`: migrations, one pass, a summary.
func runExport(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	if err := cfg.RequireExport(); err != nil {
		return err
	}

	logStart(logger, "run", cfg)

	database, err := openDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer database.Close()

	m := metrics.New()
	client, err := newClient(cfg, logger, m)
	if err != nil {
		return err
	}

	res, err := pass(ctx, cfg, client, database, logger, m)
	pushMetrics(cfg, m, logger)
	if err != nil {
		return databaseError{err}
	}

	printSummary(stdout, res)

	if n := res.Failed(); n > 0 {
		return targetsFailedError{failed: n, total: len(res.Targets)}
	}

	return nil
}

// pushMetrics sends the run's metrics to EXPORTER_PUSHGATEWAY_URL, when
// set, grouped by shard so that the shards of an Indexed Job do not replace
// each other's. A failed push is logged; it does not fail the run.
func pushMetrics(cfg config.Config, m *metrics.Metrics, logger *slog.Logger) {
	if cfg.PushgatewayURL == "" {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	grouping := map[string]string{"schema": cfg.Schema, "shard": strconv.Itoa(cfg.Shard.Index)}
	if err := m.Push(ctx, cfg.PushgatewayURL, pushJob, grouping); err != nil {
		logger.Warn("metrics not pushed", "err", err)

		return
	}

	logger.Info("metrics pushed", "pushgateway", config.MaskURL(cfg.PushgatewayURL))
}

// pushJob is the job label of pushed metrics.
const pushJob = "atlas_snapshot_exporter"

// pass runs one export under EXPORTER_RUN_TIMEOUT; obs, when not nil,
// hears about it.
func pass(ctx context.Context, cfg config.Config, client *fetch.Client, database *db.DB, logger *slog.Logger, obs export.Observer) (export.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.RunTimeout)
	defer cancel()

	host, _ := os.Hostname()
	exp := export.New(client, database, logger)
	if obs != nil {
		exp.Observe(obs)
	}

	return exp.Run(ctx, export.Params{
		Targets:     cfg.Targets,
		Concurrency: cfg.Concurrency,
		Owns:        cfg.Shard.Owns,
		Host:        host,
		PID:         os.Getpid(),
		Version:     version,
	})
}

// openDatabase connects and brings the schema up to date. Every failure
// here makes the database unusable for this process (exit 3).
func openDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger) (*db.DB, error) {
	database, err := db.Open(ctx, dbConfig(cfg))
	if err != nil {
		return nil, databaseError{err}
	}

	if err := database.Migrate(ctx); err != nil {
		database.Close()

		return nil, databaseError{err}
	}

	logger.Info("database ready", "host", database.Host(), "database", database.Name(), "schema", cfg.Schema)

	return database, nil
}

func dbConfig(cfg config.Config) db.Config {
	return db.Config{
		URL:              cfg.DatabaseURL,
		Schema:           cfg.Schema,
		StatementTimeout: cfg.StatementTimeout,
		MaxConns:         int32(cfg.Concurrency + 2),
		AppName:          "atlas-snapshot-exporter",
	}
}

// newClient builds the Atlas client; m, when not nil, counts its requests.
func newClient(cfg config.Config, logger *slog.Logger, m *metrics.Metrics) (*fetch.Client, error) {
	fc := fetch.Config{
		BaseURL:        cfg.BaseURL,
		PageSize:       cfg.PageSize,
		RequestTimeout: cfg.RequestTimeout,
		MaxRetries:     cfg.MaxRetries,
		RateLimit:      cfg.RateLimit,
		RateBurst:      rateBurst(cfg.RateLimit),
		Logger:         logger,
		UserAgent:      "atlas-snapshot-exporter/" + version,
	}
	if cfg.UseServiceAccount() {
		fc.ClientID, fc.ClientSecret = cfg.ClientID, cfg.ClientSecret
	} else {
		fc.PublicKey, fc.PrivateKey = cfg.PublicKey, cfg.PrivateKey
	}

	if m != nil {
		m.FetchHooks(&fc)
	}

	client, err := fetch.NewClient(fc)
	if err != nil {
		return nil, fmt.Errorf("create Atlas client: %w", err)
	}

	return client, nil
}

// rateBurst lets a run start with a tenth of a minute's requests at once,
// well inside Atlas's own bucket (1,200 requests of capacity per project).
func rateBurst(perMinute int) int {
	return max(5, perMinute/10)
}

// logStart writes the start line: version and the effective configuration,
// secrets masked.
func logStart(logger *slog.Logger, cmd string, cfg config.Config) {
	auth := "api_key"
	if cfg.UseServiceAccount() {
		auth = "service_account"
	}

	logger.Info("exporter starting", "command", cmd, "version", version,
		"base_url", cfg.BaseURL, "auth", auth, "targets", len(cfg.Targets),
		"concurrency", cfg.Concurrency, "page_size", cfg.PageSize, "rate_limit", cfg.RateLimit,
		"max_retries", cfg.MaxRetries, "schema", cfg.Schema, "shard", cfg.Shard.String(),
		"run_timeout", cfg.RunTimeout.String(), "shutdown_timeout", cfg.ShutdownTimeout.String(),
		"schedule", cfg.Schedule, "listen_addr", cfg.ListenAddr, "run_on_start", cfg.RunOnStart,
		"pushgateway", config.MaskURL(cfg.PushgatewayURL),
		"database", config.MaskDatabaseURL(cfg.DatabaseURL))
}

// printSummary writes the short human summary of a pass.
func printSummary(w io.Writer, res export.Result) {
	interrupted := res.Interrupted()
	fmt.Fprintf(w, "run %d %s in %s: %d targets, %d failed",
		res.RunID, res.Status, res.Duration.Round(time.Millisecond), len(res.Targets), res.Failed()-interrupted)
	if interrupted > 0 {
		fmt.Fprintf(w, ", %d interrupted", interrupted)
	}
	fmt.Fprintln(w)

	t := res.Totals
	fmt.Fprintf(w, "snapshots: %d seen, %d created, %d updated, %d unchanged, %d removed\n",
		t.Seen, t.Created, t.Updated, t.Unchanged, t.Removed)
	fmt.Fprintf(w, "requests: %d (%d pages, %d retries)\n", t.Requests, t.Pages, t.Retries)

	if res.Failed() == 0 {
		return
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET NOT EXPORTED\tERROR")
	for _, r := range res.Targets {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\t%v\n", r.Key, r.Err)
		}
	}
	tw.Flush()
}
