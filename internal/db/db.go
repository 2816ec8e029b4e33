// Package db is the exporter's PostgreSQL layer and the only package that
// imports pgx. It applies the migrations and reporting views, records runs and
// their targets, and merges each target's snapshot listing in one transaction:
// pages are streamed with COPY into a temporary table, then folded into
// snapshots and snapshot_versions with a few set-based statements.
//
// Every connection runs with search_path set to the exporter's schema and the
// configured statement_timeout. Errors name the database host and name, never
// the password or the connection string.
package db

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is the schema that holds every table and view when
// Config.Schema is empty.
const DefaultSchema = "atlas_backup"

// Config is what Open needs to reach the database.
type Config struct {
	// URL is a PostgreSQL connection string, URL or key=value; empty means the
	// libpq defaults (PG* environment variables).
	URL string

	// Schema holds the exporter's tables and views; DefaultSchema when empty.
	Schema string

	// StatementTimeout bounds every statement; zero leaves the server's
	// default. Waits for the per-target lock and migrations are exempt.
	StatementTimeout time.Duration

	// MaxConns caps the pool; zero keeps pgxpool's default. Each running
	// export run holds one connection for its whole duration (see StartRun).
	MaxConns int32

	// AppName is sent as application_name, visible in pg_stat_activity.
	AppName string
}

// DB is a pool of connections to the exporter's schema.
type DB struct {
	pool   *pgxpool.Pool
	schema string

	mu   sync.Mutex
	runs map[int64]*pgxpool.Conn // connections holding each live run's lock

	host, name string
}

// Open connects to PostgreSQL and checks the connection with a ping. Each
// connection gets search_path=<schema> and the statement timeout. The schema
// itself is created by Migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, &ConnectError{Err: redact(err, cfg.URL)}
	}

	schema := cfg.Schema
	if schema == "" {
		schema = DefaultSchema
	}

	applySettings(pcfg, schema, cfg)
	pcfg.ShouldPing = pingOnAcquire

	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, newConnectError(pcfg.ConnConfig, err, cfg.URL)
	}

	if err := pool.Ping(ctx); err != nil {
		pool.Close()

		return nil, newConnectError(pcfg.ConnConfig, err, cfg.URL)
	}

	d := &DB{
		pool:   pool,
		schema: schema,
		runs:   make(map[int64]*pgxpool.Conn),
		host:   pcfg.ConnConfig.Host,
		name:   cmp.Or(pcfg.ConnConfig.Database, pcfg.ConnConfig.User),
	}

	return d, nil
}

// applySettings puts the per-connection settings into the startup parameters,
// so that a RESET inside a transaction returns to them.
func applySettings(pcfg *pgxpool.Config, schema string, cfg Config) {
	params := pcfg.ConnConfig.RuntimeParams
	params["search_path"] = quoteIdent(schema)
	if cfg.StatementTimeout > 0 {
		params["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	}

	if cfg.AppName != "" {
		params["application_name"] = cfg.AppName
	}

	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
}

// pingOnAcquire makes the pool check every connection before handing it
// out. pgxpool's default pings only those idle for over a second, so after
// a PostgreSQL restart a connection released less than a second earlier
// came back dead and failed whatever ran on it first: a scheduled pass, a
// /readyz probe. A dead one found by the ping is dropped and the next tried.
// The cost is one round trip per acquire, small beside the statements each
// acquire serves.
func pingOnAcquire(context.Context, pgxpool.ShouldPingParams) bool {
	return true
}

// Close releases the connections of runs still open, which frees their
// locks, then closes the pool.
func (d *DB) Close() {
	d.mu.Lock()
	for id, conn := range d.runs {
		closeConn(conn)
		delete(d.runs, id)
	}
	d.mu.Unlock()

	d.pool.Close()
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}

	return nil
}

// Schema is the schema that holds the exporter's tables and views.
func (d *DB) Schema() string {
	return d.schema
}

// Host is the database server's host, for logs (never the password).
func (d *DB) Host() string {
	return d.host
}

// Name is the database's name, for logs.
func (d *DB) Name() string {
	return d.name
}

// closeConn closes a connection taken out of the pool: closing the session
// frees its session-level advisory locks.
func closeConn(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_ = conn.Hijack().Close(ctx)
}

// quoteIdent quotes a PostgreSQL identifier such as the schema name.
func quoteIdent(name string) string {
	return pgx.Identifier{name}.Sanitize()
}

// ConnectError reports that the database could not be reached or the
// connection string could not be parsed. It names the host, port and
// database; its text never holds the password or the connection string.
type ConnectError struct {
	Host     string
	Port     uint16
	Database string
	Err      error // already redacted
}

// Error names where the connection went and why it failed.
func (e *ConnectError) Error() string {
	if e.Host == "" && e.Database == "" {
		return fmt.Sprintf("connect to postgres: %v", e.Err)
	}

	return fmt.Sprintf("connect to postgres at %s:%d database %q: %v", e.Host, e.Port, e.Database, e.Err)
}

// Unwrap returns the redacted cause.
func (e *ConnectError) Unwrap() error {
	return e.Err
}

func newConnectError(cc *pgx.ConnConfig, err error, connString string) *ConnectError {
	return &ConnectError{
		Host:     cc.Host,
		Port:     cc.Port,
		Database: cc.Database,
		Err:      redact(err, connString, cc.Password),
	}
}

// redactedError carries the text of an error with secrets removed. It
// unwraps only to context errors, so that callers can still tell a
// cancellation apart, but can never reach the original text.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string {
	return e.msg
}

func (e *redactedError) Unwrap() error {
	return e.cause
}

// redact removes the connection string and every password from err's text.
func redact(err error, connString string, passwords ...string) error {
	msg := err.Error()

	secrets := append(passwords, connPasswords(connString)...)
	if connString != "" {
		secrets = append(secrets, connString)
	}

	msg = scrub(msg, secrets)

	var cause error
	switch {
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	}

	return &redactedError{msg: msg, cause: cause}
}
