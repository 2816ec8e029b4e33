package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/migrations"
	views "github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/sql"
)

// migrationsTable is golang-migrate's bookkeeping table, kept in the schema.
const migrationsTable = "schema_migrations"

// DirtyError reports a migration that failed: golang-migrate recorded its
// version as dirty and will not run again until the version is forced.
type DirtyError struct {
	Version uint
}

// Error names the version and the command that clears the state. PostgreSQL
// runs each migration file in one implicit transaction (none of ours
// controls its own), so a failed file left nothing behind: the last version
// that really applied is the one before, and forcing the dirty version itself
// would record as applied a migration that never ran. A failed migrate down
// records the version it was going to, so there it is the one after.
func (e *DirtyError) Error() string {
	return fmt.Sprintf(
		"database schema is dirty at migration version %d: migration %d failed and PostgreSQL rolled it back "+
			"(each migration file runs in one transaction), so %d is the last version applied; "+
			"fix the cause, then run `exporter migrate force %d` and run again "+
			"(after a failed `exporter migrate down`, force %d instead)",
		e.Version, e.Version, e.Version-1, e.Version-1, e.Version+1)
}

// SchemaTooNewError reports a schema migrated past the newest migration this
// exporter has: a newer exporter ran against it (an image rolled back, say).
// This exporter cannot read it, nor revert migrations whose files it lacks.
type SchemaTooNewError struct {
	Version uint
	Newest  uint
}

// Error names both versions and the two ways out.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf(
		"database schema is at migration version %d, newer than this exporter's newest migration %d: "+
			"run an exporter that has migration %d, or roll the schema back to version %d "+
			"with that newer exporter (`exporter migrate down %d`)",
		e.Version, e.Newest, e.Version, e.Newest, e.Version-e.Newest)
}

// Migrate creates the schema when missing, applies every pending migration and
// then the reporting views. Any number of processes may call it at once:
// golang-migrate serialises on an advisory lock, and schema creation and the
// views take one of their own. A dirty database returns a *DirtyError, and one
// migrated past this exporter's newest migration a *SchemaTooNewError.
func (d *DB) Migrate(ctx context.Context) error {
	if err := d.createSchema(ctx); err != nil {
		return err
	}

	var changed bool
	err := d.withMigrate(ctx, func(m *migrate.Migrate) error {
		if err := checkKnownVersion(m); err != nil {
			return err
		}

		err := m.Up()
		changed = err == nil
		if errors.Is(err, migrate.ErrNoChange) {
			return nil
		}

		return err
	})
	if err != nil {
		return fmt.Errorf("migrate schema %s up: %w", d.schema, err)
	}

	return d.applyViews(ctx, changed)
}

// ErrBadMigrateArgs marks a migrate down or force request that cannot be
// carried out as asked, refused before anything changes: a usage mistake,
// not a database failure.
var ErrBadMigrateArgs = errors.New("bad migrate arguments")

// migrateArgsError is an ErrBadMigrateArgs with its own message.
type migrateArgsError struct{ msg string }

func (e *migrateArgsError) Error() string { return e.msg }

func (e *migrateArgsError) Is(target error) bool { return target == ErrBadMigrateArgs }

func badMigrateArgs(format string, args ...any) error {
	return &migrateArgsError{msg: fmt.Sprintf(format, args...)}
}

// MigrateDown reverts the last n migrations. Views that depend on a dropped
// table go with it; the next Migrate recreates them. An n larger than the
// number of applied migrations is refused before anything is dropped, with
// an error wrapping ErrBadMigrateArgs: golang-migrate would revert them all
// and only then report the shortfall.
func (d *DB) MigrateDown(ctx context.Context, n int) error {
	if n <= 0 {
		return badMigrateArgs("migrate down %d: the number of steps must be positive", n)
	}

	exists, err := d.schemaExists(ctx)
	if err != nil {
		return err
	}

	if !exists {
		return badMigrateArgs("migrate schema %s down %d: no migration is applied", d.schema, n)
	}

	err = d.withMigrate(ctx, func(m *migrate.Migrate) error {
		if err := checkDownSteps(m, n); err != nil {
			return err
		}

		return m.Steps(-n)
	})
	if err != nil {
		return fmt.Errorf("migrate schema %s down %d: %w", d.schema, n, err)
	}

	return nil
}

// checkDownSteps refuses to revert more migrations than are applied, or any
// from a schema newer than this exporter. A dirty database is left for Steps
// to report.
func checkDownSteps(m *migrate.Migrate, n int) error {
	version, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		return badMigrateArgs("no migration is applied")
	case err != nil:
		return fmt.Errorf("read migration version: %w", err)
	case dirty:
		return nil
	}

	versions, err := embeddedVersions()
	if err != nil {
		return err
	}

	if err := checkNotNewer(version, versions); err != nil {
		return err
	}

	applied := 0
	for _, v := range versions {
		if v <= version {
			applied++
		}
	}

	if n > applied {
		return badMigrateArgs("only %d migrations are applied (version %d); nothing was reverted", applied, version)
	}

	return nil
}

// checkKnownVersion refuses a clean schema migrated past this exporter's
// newest migration: golang-migrate would look for that version's file and
// fail with "file does not exist". An empty or dirty schema is left for
// golang-migrate.
func checkKnownVersion(m *migrate.Migrate) error {
	version, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion), err == nil && dirty:
		return nil
	case err != nil:
		return fmt.Errorf("read migration version: %w", err)
	}

	versions, err := embeddedVersions()
	if err != nil {
		return err
	}

	return checkNotNewer(version, versions)
}

// checkNotNewer returns a *SchemaTooNewError when version is past the last
// of versions, the embedded ones in order.
func checkNotNewer(version uint, versions []uint) error {
	if newest := versions[len(versions)-1]; version > newest {
		return &SchemaTooNewError{Version: version, Newest: newest}
	}

	return nil
}

// embeddedVersions lists the versions of the embedded migration files, in
// order.
func embeddedVersions() ([]uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	defer src.Close()

	v, err := src.First()
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}

	versions := []uint{v}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return versions, nil
		}

		if err != nil {
			return nil, fmt.Errorf("read embedded migrations: %w", err)
		}

		versions = append(versions, next)
		v = next
	}
}

// MigrateVersion reports the applied migration version (0 when none) and
// whether the last migration failed part way.
func (d *DB) MigrateVersion(ctx context.Context) (version uint, dirty bool, err error) {
	if exists, err := d.schemaExists(ctx); err != nil || !exists {
		return 0, false, err
	}

	err = d.withMigrate(ctx, func(m *migrate.Migrate) error {
		var verr error
		version, dirty, verr = m.Version()
		if errors.Is(verr, migrate.ErrNilVersion) {
			return nil
		}

		return verr
	})
	if err != nil {
		return 0, false, fmt.Errorf("read migration version of schema %s: %w", d.schema, err)
	}

	return version, dirty, nil
}

// MigrateForce records version v as applied and clean without running
// anything: the way out of a dirty state once the schema has been repaired.
// v is the version of an embedded migration file, or 0 or -1 for none
// applied (golang-migrate's nil version: 0 is what MigrateVersion reports
// then, while golang-migrate would record 0 as a version no file has, which
// the next migrate up cannot start from). Any other v is refused before
// anything changes, with an error wrapping ErrBadMigrateArgs.
func (d *DB) MigrateForce(ctx context.Context, v int) error {
	if err := checkForceVersion(v); err != nil {
		return fmt.Errorf("force migration version %d: %w", v, err)
	}

	version := v
	if v == 0 {
		version = database.NilVersion
	}

	if err := d.createSchema(ctx); err != nil {
		return err
	}

	err := d.withMigrate(ctx, func(m *migrate.Migrate) error {
		return m.Force(version)
	})
	if err != nil {
		return fmt.Errorf("force migration version %d in schema %s: %w", v, d.schema, err)
	}

	return nil
}

// checkForceVersion accepts -1, 0 and the embedded migration versions.
func checkForceVersion(v int) error {
	if v == database.NilVersion || v == 0 {
		return nil
	}

	versions, err := embeddedVersions()
	if err != nil {
		return err
	}

	if v > 0 && slices.Contains(versions, uint(v)) {
		return nil
	}

	return badMigrateArgs("not a migration of this exporter: use 0 for none, or one of %s", joinVersions(versions))
}

func joinVersions(versions []uint) string {
	parts := make([]string, len(versions))
	for i, v := range versions {
		parts[i] = strconv.FormatUint(uint64(v), 10)
	}

	return strings.Join(parts, ", ")
}

// schemaExists reports whether the exporter's schema has been created: a
// database without it is at version 0, with nothing to migrate down.
func (d *DB) schemaExists(ctx context.Context) (bool, error) {
	const query = `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`

	var exists bool
	if err := d.pool.QueryRow(ctx, query, d.schema).Scan(&exists); err != nil {
		return false, fmt.Errorf("look for schema %s: %w", d.schema, err)
	}

	return exists, nil
}

// withMigrate runs fn with a golang-migrate instance on the embedded files.
// It uses its own connections without a statement timeout: waiting for
// another process's migration, or a long index build, is legitimate there.
// Cancelling ctx stops between migrations.
func (d *DB) withMigrate(ctx context.Context, fn func(*migrate.Migrate) error) error {
	cc := d.pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"

	sqlDB := stdlib.OpenDB(*cc)
	defer sqlDB.Close()

	driver, err := pgxmigrate.WithInstance(sqlDB, &pgxmigrate.Config{
		SchemaName:      d.schema,
		MigrationsTable: migrationsTable,
	})
	if err != nil {
		return fmt.Errorf("open migration driver: %w", err)
	}

	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}

	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	defer m.Close()

	stop := context.AfterFunc(ctx, func() {
		select {
		case m.GracefulStop <- true:
		default:
		}
	})
	defer stop()

	return dirtyError(fn(m))
}

// dirtyError turns golang-migrate's dirty state into a *DirtyError.
func dirtyError(err error) error {
	var de migrate.ErrDirty
	if errors.As(err, &de) {
		return &DirtyError{Version: uint(de.Version)}
	}

	return err
}

// createSchema creates the schema under a lock: concurrent CREATE SCHEMA IF
// NOT EXISTS can otherwise fail on the catalog's unique index. An existing
// schema is left alone without asking: CREATE SCHEMA IF NOT EXISTS checks the
// database's CREATE privilege even when the schema is there, and a role that
// owns only its schema does not have it.
func (d *DB) createSchema(ctx context.Context) error {
	const (
		exists = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)`
		query  = `CREATE SCHEMA IF NOT EXISTS `
	)

	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if err := d.lockXact(ctx, tx, d.lockName(lockKindSchema, "")); err != nil {
			return err
		}

		var found bool
		if err := tx.QueryRow(ctx, exists, d.schema).Scan(&found); err != nil || found {
			return err
		}

		_, err := tx.Exec(ctx, query+quoteIdent(d.schema))

		return err
	})
	if err != nil {
		return fmt.Errorf("create schema %s: %w", d.schema, err)
	}

	return nil
}

// applyViews runs every sql/*.sql file in name order, in one transaction,
// under the schema lock. It skips the work when the files are those last
// applied and no migration ran: replacing a view takes a lock that would
// queue behind every report reading it.
func (d *DB) applyViews(ctx context.Context, force bool) error {
	const (
		selectHash = `SELECT hash FROM schema_views`
		upsertHash = `INSERT INTO schema_views (singleton, hash, applied_at) VALUES (true, $1, now())
ON CONFLICT (singleton) DO UPDATE SET hash = EXCLUDED.hash, applied_at = EXCLUDED.applied_at`
	)

	files, hash, err := viewFiles()
	if err != nil {
		return err
	}

	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if err := d.lockXact(ctx, tx, d.lockName(lockKindSchema, "")); err != nil {
			return err
		}

		var applied string
		err := tx.QueryRow(ctx, selectHash).Scan(&applied)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read applied views hash: %w", err)
		}

		if applied == hash && !force {
			return nil
		}

		for _, f := range files {
			if _, err := tx.Exec(ctx, f.text); err != nil {
				return fmt.Errorf("apply %s: %w", f.name, err)
			}
		}

		_, err = tx.Exec(ctx, upsertHash, hash)

		return err
	})
	if err != nil {
		return fmt.Errorf("apply views in schema %s: %w", d.schema, err)
	}

	return nil
}

type viewFile struct {
	name string
	text string
}

// viewFiles reads the embedded view files in name order and hashes their
// names and contents.
func viewFiles() ([]viewFile, string, error) {
	names, err := fs.Glob(views.FS, "*.sql")
	if err != nil {
		return nil, "", fmt.Errorf("list view files: %w", err)
	}

	sort.Strings(names)

	h := sha256.New()
	files := make([]viewFile, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(views.FS, name)
		if err != nil {
			return nil, "", fmt.Errorf("read view file %s: %w", name, err)
		}

		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
		files = append(files, viewFile{name: name, text: string(b)})
	}

	return files, hex.EncodeToString(h.Sum(nil)), nil
}

// lockXact takes a transaction-level advisory lock. The wait is exempt from
// the statement timeout (the holder may legitimately work for minutes) but
// not from ctx; the session's timeout is restored for the rest of the
// transaction.
func (d *DB) lockXact(ctx context.Context, tx pgx.Tx, name string) error {
	const (
		current    = `SELECT current_setting('statement_timeout')`
		setTimeout = `SELECT set_config('statement_timeout', $1, true)`
		lock       = `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`
	)

	var timeout string
	if err := tx.QueryRow(ctx, current).Scan(&timeout); err != nil {
		return fmt.Errorf("read statement timeout: %w", err)
	}

	if _, err := tx.Exec(ctx, setTimeout, "0"); err != nil {
		return fmt.Errorf("lift statement timeout: %w", err)
	}

	if _, err := tx.Exec(ctx, lock, name); err != nil {
		return fmt.Errorf("wait for lock %s: %w", name, err)
	}

	if _, err := tx.Exec(ctx, setTimeout, timeout); err != nil {
		return fmt.Errorf("restore statement timeout: %w", err)
	}

	return nil
}
