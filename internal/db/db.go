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
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
//
// A connection string that cannot be parsed returns a *ConfigError before
// any I/O; a database that cannot be reached, a *ConnectError.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	pcfg, err := parseConfig(cfg.URL)
	if err != nil {
		return nil, err
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

// ConfigError reports a connection string that cannot be parsed: a bad
// scheme, port or sslmode, or no connection string at all. It is a mistake
// in the configuration, found before any I/O, not an unreachable database.
// Its text never holds the password or the connection string.
type ConfigError struct {
	Err error // already redacted
}

// Error says that DATABASE_URL, where the exporter's connection string comes
// from, cannot be used, and why.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("DATABASE_URL: not a usable PostgreSQL connection string: %v", e.Err)
}

// Unwrap returns the redacted cause.
func (e *ConfigError) Unwrap() error {
	return e.Err
}

// ValidateURL parses a connection string as Open would, without any I/O but
// reading the files it names (passfile, service file, certificates). It
// returns nil or a *ConfigError.
func ValidateURL(connString string) error {
	_, err := parseConfig(connString)

	return err
}

// parseConfig parses the connection string, turning a failure into a
// *ConfigError.
func parseConfig(connString string) (*pgxpool.Config, error) {
	pcfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, &ConfigError{Err: redact(parseReason(err, connString), connString)}
	}

	return pcfg, nil
}

// parseReason drops the connection string that pgx quotes in a parse error,
// masked only on a best-effort basis, and keeps the reason after it. A URL of
// another scheme, which pgx reads as a broken key=value list, is named as
// such.
func parseReason(err error, connString string) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return err
	}

	scheme, _, isURL := strings.Cut(connString, "://")
	if isURL && scheme != "postgres" && scheme != "postgresql" {
		return errors.New("a URL must start with postgres:// or postgresql://")
	}

	msg := pe.Error()
	if i := strings.LastIndex(msg, "`: "); strings.HasPrefix(msg, "cannot parse `") && i >= 0 {
		msg = msg[i+len("`: "):]
	}

	return errors.New(msg)
}

// ConnectError reports that the database could not be reached. It names the
// host, port and database; its text never holds any part of the user info,
// the password or the connection string.
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
	secrets := append(connPasswords(connString), cc.Password)

	return &ConnectError{
		Host:     scrub(displayHost(cc.Host), secrets),
		Port:     cc.Port,
		Database: scrub(cc.Database, secrets),
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
