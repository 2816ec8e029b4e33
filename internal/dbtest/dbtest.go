// Package dbtest gives tests a real, fresh, migrated PostgreSQL database.
//
// The server is TEST_DATABASE_URL when set, else a throwaway cluster
// (internal/pgtemp) started once per test binary; call Main from TestMain so
// it is stopped at exit. Each test gets its own database cloned from a
// template that pgtestdb migrates once per schema version. When no server can
// be had the test is skipped, or failed under CI=true.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/pgtemp"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/migrations"
	views "github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/sql"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "TEST_DATABASE_URL"

var server struct {
	once    sync.Once
	url     string
	cluster *pgtemp.Cluster
	err     error
}

// Main runs the tests and then stops the throwaway cluster, if one was
// started. Use it as the body of TestMain.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it runs the tests, stops the throwaway
// cluster and returns m.Run's code, for a TestMain with work of its own
// after the tests.
func Run(m *testing.M) int {
	code := m.Run()

	if server.cluster != nil {
		if err := server.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
		}
	}

	return code
}

// URL returns the URL of the server the tests use (its maintenance
// database), starting the throwaway cluster on first use.
func URL(tb testing.TB) string {
	tb.Helper()

	server.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()

		if u := os.Getenv(EnvURL); u != "" {
			server.url, server.err = u, ping(ctx, u)

			return
		}

		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		server.cluster, server.err = pgtemp.Start(ctx, logger)
		if server.err == nil {
			server.url = server.cluster.URL()
		}
	})

	if server.err != nil {
		unavailable(tb, fmt.Errorf("%s unset or unreachable, and no throwaway cluster: %w", EnvURL, server.err))
	}

	return server.url
}

// ping checks that the server at url answers.
func ping(ctx context.Context, url string) error {
	d, err := db.Open(ctx, db.Config{URL: url, AppName: "dbtest"})
	if err != nil {
		return err
	}

	d.Close()

	return nil
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(tb testing.TB, err error) {
	tb.Helper()

	if os.Getenv("CI") == "true" {
		tb.Fatalf("dbtest: no database: %v", err)
	}

	tb.Skipf("dbtest: no database: %v", err)
}

// New returns a handle on a fresh database migrated to the latest schema,
// views included, in db.DefaultSchema. It is closed and dropped when the
// test ends.
func New(tb testing.TB) *db.DB {
	tb.Helper()

	return Open(tb, NewURL(tb))
}

// NewURL returns the URL of a fresh database migrated to the latest schema.
func NewURL(tb testing.TB) string {
	tb.Helper()

	return pgtestdb.Custom(tb, config(tb), migrator{}).URL()
}

// EmptyURL returns the URL of a fresh database with no schema at all.
func EmptyURL(tb testing.TB) string {
	tb.Helper()

	return pgtestdb.Custom(tb, config(tb), pgtestdb.NoopMigrator{}).URL()
}

// Open opens url with the default schema and closes it when the test ends.
func Open(tb testing.TB, url string) *db.DB {
	tb.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	d, err := db.Open(ctx, db.Config{URL: url, StatementTimeout: time.Minute, AppName: "dbtest"})
	if err != nil {
		tb.Fatalf("dbtest: open test database: %v", err)
	}

	tb.Cleanup(d.Close)

	return d
}

// config turns the server URL into pgtestdb's settings.
func config(tb testing.TB) pgtestdb.Config {
	tb.Helper()

	u := URL(tb)
	pc, err := pgconn.ParseConfig(u)
	if err != nil {
		unavailable(tb, fmt.Errorf("parse %s: host and database could not be read", EnvURL))
	}

	return pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      pc.Host,
		Port:                      strconv.Itoa(int(pc.Port)),
		User:                      pc.User,
		Password:                  pc.Password,
		Database:                  pc.Database,
		Options:                   options(u),
		ForceTerminateConnections: true,
	}
}

// options keeps the query parameters of a URL-form connection string
// (sslmode and the like).
func options(connString string) string {
	u, err := url.Parse(connString)
	if err != nil || u.Scheme == "" {
		return ""
	}

	return u.RawQuery
}

// migrator prepares pgtestdb's template database with db.Migrate, the code
// path production uses.
type migrator struct{}

// Hash identifies the schema: every migration and view file, names and
// contents, so that a changed file makes a new template.
func (migrator) Hash() (string, error) {
	h := sha256.New()
	for _, fsys := range []fs.FS{migrations.FS, views.FS} {
		if err := hashFiles(h, fsys); err != nil {
			return "", err
		}
	}

	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFiles(h io.Writer, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return fmt.Errorf("list sql files: %w", err)
	}

	sort.Strings(names)
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}

		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		_, _ = h.Write(b)
	}

	return nil
}

// Migrate runs db.Migrate against the template database.
func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	d, err := db.Open(ctx, db.Config{URL: conf.URL(), AppName: "dbtest-migrate"})
	if err != nil {
		return err
	}
	defer d.Close()

	return d.Migrate(ctx)
}
