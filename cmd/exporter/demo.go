package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/pgtemp"
)

// demoSchema keeps the demo's synthetic data apart from a real export's, in
// the same database, unless EXPORTER_DB_SCHEMA says otherwise.
const demoSchema = "atlas_demo"

// demoShape is the synthetic organisation the demo exports: a few projects,
// Flex and Serverless, some hundreds of snapshots.
var demoShape = atlassim.Shape{Projects: 3, FlexPerProject: 2, ServerlessPerProject: 1, SnapshotsPerInstance: 60, Seed: 42}

// runDemo is `exporter demo`: the simulator on loopback, an export into
// DATABASE_URL (or a throwaway cluster), a second unchanged pass, a report.
func runDemo(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	sim, err := startSimulator(logger)
	if err != nil {
		return err
	}
	defer sim.Close()

	cfg.Targets = sim.Populate(withDayStart(demoShape))
	cfg.BaseURL = sim.URL
	cfg.ClientID, cfg.ClientSecret = sim.clientID, sim.clientSecret
	cfg.PublicKey, cfg.PrivateKey = "", ""

	if !config.IsSet("EXPORTER_DB_SCHEMA") {
		cfg.Schema = demoSchema
	}

	database, where, stopDB, err := demoDatabase(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer stopDB()

	fmt.Fprintf(stdout, "exporting synthetic data into %s, schema %s\n\n", where, cfg.Schema)

	client, err := newClient(cfg, logger, nil)
	if err != nil {
		return err
	}

	for i, label := range []string{"first pass", "second pass (unchanged data)"} {
		res, err := pass(ctx, cfg, client, database, logger, nil)
		if err != nil {
			return databaseError{err}
		}

		fmt.Fprintf(stdout, "== %s\n", label)
		printSummary(stdout, res)
		if i == 0 {
			fmt.Fprintf(stdout, "rate: %.0f snapshots/s\n\n", float64(res.Totals.Seen)/res.Duration.Seconds())
		}
	}

	return printDemoReport(ctx, database, stdout)
}

// withDayStart pins the synthetic data to the start of the current UTC day,
// so demo runs on the same day see the same snapshots.
func withDayStart(s atlassim.Shape) atlassim.Shape {
	s.Now = time.Now().UTC().Truncate(24 * time.Hour)

	return s
}

// demoSimulator is the Atlas simulator served on a loopback port, with the
// service account it accepts.
type demoSimulator struct {
	*atlassim.Server
	*atlassim.Running
	clientID, clientSecret string
}

// startSimulator serves the simulator with fresh random credentials, so the
// demo authenticates the way a real service account does.
func startSimulator(logger *slog.Logger) (*demoSimulator, error) {
	d := &demoSimulator{clientID: "mdb_sa_id_" + randomHex(8), clientSecret: "mdb_sa_sk_" + randomHex(16)}
	d.Server = atlassim.New(atlassim.Config{ClientID: d.clientID, ClientSecret: d.clientSecret, NoRequestLog: true})

	running, err := d.Server.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the Atlas simulator: %w", err)
	}

	d.Running = running
	logger.Info("atlas simulator listening", "base_url", running.URL)

	return d, nil
}

// demoDatabase opens the demo's database and says where it is. A
// DATABASE_URL that was given must work; without one, the libpq defaults are
// tried, and when no server answers there a throwaway cluster is started and
// removed afterwards.
func demoDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger) (*db.DB, string, func(), error) {
	database, err := openDatabase(ctx, cfg, logger)
	if err == nil {
		return database, "database " + database.Name() + " on " + database.Host(), database.Close, nil
	}

	if cfg.DatabaseURL != "" || ctx.Err() != nil {
		return nil, "", nil, err
	}

	logger.Warn("no PostgreSQL at the libpq defaults, starting a throwaway one", "err", err)

	cluster, err := pgtemp.Start(ctx, logger)
	if err != nil {
		return nil, "", nil, databaseError{err}
	}

	cfg.DatabaseURL = cluster.URL()
	database, err = openDatabase(ctx, cfg, logger)
	if err != nil {
		cluster.Stop()

		return nil, "", nil, err
	}

	return database, "a throwaway PostgreSQL (deleted when the demo ends)", func() {
		database.Close()
		cluster.Stop()
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms

	return hex.EncodeToString(b)
}
