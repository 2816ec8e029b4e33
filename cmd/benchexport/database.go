package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/pgtemp"
)

// The benchmark is tooling, like the tests: it talks to PostgreSQL with pgx
// directly to create the scratch database and to read what the exporter
// wrote, outside the exporter's own packages.

// scratch is a fresh database created for one benchmark run.
type scratch struct {
	serverURL string // the maintenance database it was created from
	url       string
	name      string
	cluster   *pgtemp.Cluster
	conn      *pgx.Conn
	server    pgServer // for CPU time, when the server is local
}

// newScratch creates a database on the server at serverURL, or on a
// throwaway cluster when serverURL is empty. A server that was named but
// does not answer is an error: measuring somewhere else instead would
// pass unnoticed.
func newScratch(ctx context.Context, serverURL string, logger *slog.Logger) (*scratch, error) {
	s := &scratch{serverURL: serverURL, name: "benchexport_" + randomHex(6)}
	if serverURL != "" {
		if err := ping(ctx, serverURL); err != nil {
			return nil, fmt.Errorf("database server %s (-db, else DATABASE_URL or TEST_DATABASE_URL): %w; "+
				"leave all three unset for a throwaway cluster", redactURL(serverURL), err)
		}
	} else {
		logger.Warn("no database server given (-db, DATABASE_URL, TEST_DATABASE_URL): " +
			"starting a throwaway cluster, fsync and synchronous_commit off")

		c, err := pgtemp.Start(ctx, logger)
		if err != nil {
			return nil, err
		}

		s.cluster, s.serverURL = c, c.URL()
	}

	if err := s.create(ctx); err != nil {
		s.drop(false)

		return nil, err
	}

	return s, nil
}

func (s *scratch) create(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, s.serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactURL(s.serverURL), err)
	}
	defer admin.Close(ctx)

	if _, err := admin.Exec(ctx, "CREATE DATABASE "+s.name); err != nil {
		return fmt.Errorf("create database %s: %w", s.name, err)
	}

	s.url, err = withDatabase(s.serverURL, s.name)
	if err != nil {
		return err
	}

	s.conn, err = pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.name, err)
	}

	s.server = findServer(ctx, s.conn)

	return nil
}

// serverCPU is the server's CPU time so far; -1 when the server is not
// local.
func (s *scratch) serverCPU() time.Duration {
	if !s.server.local() {
		return -1
	}

	return s.server.cpu()
}

// cpuSince is the split of CPU since pg0 (a serverCPU reading), given the
// client's share. It first waits for every backend of the scratch database
// but the benchmark's own to end, so that their time is counted.
func (s *scratch) cpuSince(ctx context.Context, pg0, client time.Duration) cpuSplit {
	if pg0 < 0 {
		return cpuSplit{Client: client, Postgres: -1}
	}

	s.server.awaitBackendsGone(ctx, s.name, s.conn.PgConn().PID())

	return cpuSplit{Client: client, Postgres: s.serverCPU() - pg0}
}

// drop removes the database (unless kept) and stops the throwaway cluster.
func (s *scratch) drop(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if s.conn != nil {
		_ = s.conn.Close(ctx)
	}

	if !keep {
		_ = s.dropDatabase(ctx)
	}

	if s.cluster != nil {
		_ = s.cluster.Stop()
	}
}

// renew drops the database and creates a fresh one under a new name on the
// same server, for the next round.
func (s *scratch) renew(ctx context.Context) error {
	if err := s.conn.Close(ctx); err != nil {
		return fmt.Errorf("close %s: %w", s.name, err)
	}

	if err := s.dropDatabase(ctx); err != nil {
		return err
	}

	s.name = "benchexport_" + randomHex(6)

	return s.create(ctx)
}

// dropDatabase drops the scratch database, if it was created.
func (s *scratch) dropDatabase(ctx context.Context) error {
	if s.url == "" {
		return nil
	}

	admin, err := pgx.Connect(ctx, s.serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactURL(s.serverURL), err)
	}
	defer admin.Close(ctx)

	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+s.name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", s.name, err)
	}

	return nil
}

// describe names the server for the report: its URL without the
// password, or the throwaway cluster and what it runs without.
func (s *scratch) describe() string {
	if s.cluster != nil {
		return "throwaway cluster (fsync and synchronous_commit off)"
	}

	return redactURL(s.serverURL)
}

// serverVersion is PostgreSQL's version string.
func (s *scratch) serverVersion(ctx context.Context) string {
	var v string
	if err := s.conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "unknown"
	}

	return v
}

// xid is the current transaction id, the mark that rows written later are
// counted from.
func (s *scratch) xid(ctx context.Context) (int64, error) {
	var x int64
	if err := s.conn.QueryRow(ctx, "SELECT txid_current() % 4294967296").Scan(&x); err != nil {
		return 0, fmt.Errorf("read transaction id: %w", err)
	}

	return x, nil
}

// written counts the row versions of snapshots and snapshot_versions
// created (inserted or updated) by transactions after the mark. The
// scratch database is fresh, so transaction ids have not wrapped.
func (s *scratch) written(ctx context.Context, mark int64) (int64, int64, error) {
	const query = `SELECT
    (SELECT count(*) FROM atlas_backup.snapshots WHERE xmin::text::bigint > $1),
    (SELECT count(*) FROM atlas_backup.snapshot_versions WHERE xmin::text::bigint > $1)`

	var snaps, versions int64
	if err := s.conn.QueryRow(ctx, query, mark).Scan(&snaps, &versions); err != nil {
		return 0, 0, fmt.Errorf("count rows written: %w", err)
	}

	return snaps, versions, nil
}

// runRow is what the exporter recorded about its latest run.
type runRow struct {
	Status                                  string
	Requests, Pages, Seen, Created, Updated int64
	Unchanged, Removed, TargetsFailed       int64
	Duration                                time.Duration
}

func (s *scratch) lastRun(ctx context.Context) (runRow, error) {
	const query = `SELECT status, requests, pages, seen, created, updated, unchanged, removed, targets_failed,
    extract(epoch FROM finished_at - started_at)
FROM atlas_backup.export_runs ORDER BY id DESC LIMIT 1`

	var r runRow
	var secs float64
	err := s.conn.QueryRow(ctx, query).Scan(&r.Status, &r.Requests, &r.Pages, &r.Seen, &r.Created,
		&r.Updated, &r.Unchanged, &r.Removed, &r.TargetsFailed, &secs)
	if err != nil {
		return r, fmt.Errorf("read the last run: %w", err)
	}

	r.Duration = time.Duration(secs * float64(time.Second))

	return r, nil
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}

	return c.Close(ctx)
}

// withDatabase replaces the database of a connection string.
func withDatabase(connString, name string) (string, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}

	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(cfg.User, cfg.Password),
		Host:   fmt.Sprintf("%s:%d", cfg.Host, cfg.Port),
		Path:   "/" + name,
	}
	if cfg.Password == "" {
		u.User = url.User(cfg.User)
	}

	if cfg.TLSConfig == nil {
		u.RawQuery = "sslmode=disable"
	}

	return u.String(), nil
}

// redactURL hides a password.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}

	return "(database)"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}
