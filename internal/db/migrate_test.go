package db_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// latestVersion is the number of the newest file in migrations/.
const latestVersion = 8

func TestMigrateTwiceIsNoChange(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	require.NoError(t, d.Migrate(ctx))
	require.NoError(t, d.Migrate(ctx))

	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion), version)
	require.False(t, dirty)
}

func TestMigrateDownUpForce(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()

	require.NoError(t, d.MigrateDown(ctx, latestVersion-1))
	version, _, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(1), version)
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM pg_class WHERE relname IN ('snapshots', 'snapshot_expiry')`),
		"down drops the tables and the views on them")

	require.NoError(t, d.Migrate(ctx))
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM snapshot_expiry`), "up restores the views")

	require.NoError(t, d.MigrateForce(ctx, 3))
	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(3), version)
	require.False(t, dirty)

	require.NoError(t, d.MigrateForce(ctx, latestVersion))
	require.NoError(t, d.Migrate(ctx))
	require.Error(t, d.MigrateDown(ctx, 0))
}

func TestMigrateFromEmptyIsSafeConcurrently(t *testing.T) {
	t.Parallel()

	url := dbtest.EmptyURL(t)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			d, err := db.Open(ctx, db.Config{URL: url})
			if err != nil {
				errs <- err

				return
			}
			defer d.Close()

			errs <- d.Migrate(ctx)
		})
	}
	wg.Wait()
	close(errs)

	for err := range errs {
		require.NoError(t, err)
	}

	d := dbtest.Open(t, url)
	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion), version)
	require.False(t, dirty)
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM snapshot_expiry`))
}

// A dirty state names the version before the dirty one as the one to force:
// the failed file was rolled back whole.
func TestMigrateDirtyStateStops(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	_, err := d.Pool().Exec(ctx, `UPDATE schema_migrations SET dirty = true`)
	require.NoError(t, err)

	err = d.Migrate(ctx)
	var dirty *db.DirtyError
	require.True(t, errors.As(err, &dirty), "got %v", err)
	require.Equal(t, uint(latestVersion), dirty.Version)
	require.Contains(t, err.Error(), fmt.Sprintf("exporter migrate force %d`", latestVersion-1))
	require.Contains(t, err.Error(), "rolled it back")

	require.NoError(t, d.MigrateForce(ctx, latestVersion))
	require.NoError(t, d.Migrate(ctx))
}

// The advice for a dirty schema was "repair it by hand, then force N", N
// being the migration that failed. PostgreSQL had rolled that migration
// back whole, so forcing N recorded as applied a migration that never ran
// and the views on its tables failed. Following the advice now (fix the
// cause, force N-1, migrate up) ends at the newest version, clean, with the
// views applied.
func TestMigrateFailedMigrationRepairedAsAdvised(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	require.NoError(t, d.MigrateDown(ctx, latestVersion-5))
	_, err := d.Pool().Exec(ctx, `CREATE TABLE instance_storage_changes (conflict int)`)
	require.NoError(t, err)

	require.ErrorContains(t, d.Migrate(ctx), `relation "instance_storage_changes" already exists`)
	err = d.Migrate(ctx)
	var dirty *db.DirtyError
	require.ErrorAs(t, err, &dirty, "the next run finds the schema dirty")
	require.Equal(t, uint(6), dirty.Version)
	require.Contains(t, err.Error(), "`exporter migrate force 5`")
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM pg_class WHERE relname = 'snapshots_completed_taken_idx'`),
		"the index 0006 creates before the conflict was rolled back with it")

	_, err = d.Pool().Exec(ctx, `DROP TABLE instance_storage_changes`)
	require.NoError(t, err)
	require.NoError(t, d.MigrateForce(ctx, 5))
	require.NoError(t, d.Migrate(ctx))

	version, dirtyNow, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion), version)
	require.False(t, dirtyNow)
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM instance_storage_daily`))
	require.Equal(t, 0, count(t, d.Pool(), `SELECT count(*) FROM instance_growth`))
}

// A schema a newer exporter migrated (an image rolled back after the
// upgrade) failed with "no migration found for version 9: ... file does
// not exist". It is now a *SchemaTooNewError naming both versions and the
// way out, for migrate up and down alike, and nothing changes.
func TestMigrateSchemaNewerThanExporter(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	_, err := d.Pool().Exec(ctx, `UPDATE schema_migrations SET version = $1`, latestVersion+1)
	require.NoError(t, err)

	for name, migrate := range map[string]func() error{
		"up":   func() error { return d.Migrate(ctx) },
		"down": func() error { return d.MigrateDown(ctx, 1) },
	} {
		err := migrate()
		var tooNew *db.SchemaTooNewError
		require.ErrorAs(t, err, &tooNew, name)
		require.Equal(t, db.SchemaTooNewError{Version: latestVersion + 1, Newest: latestVersion}, *tooNew, name)
		require.NotErrorIs(t, err, db.ErrBadMigrateArgs, name)
		require.Contains(t, err.Error(), fmt.Sprintf(
			"database schema is at migration version %d, newer than this exporter's newest migration %d",
			latestVersion+1, latestVersion), name)
		require.Contains(t, err.Error(), "`exporter migrate down 1`", name)
		require.NotContains(t, err.Error(), "file does not exist", name)
	}

	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion+1), version)
	require.False(t, dirty)
	require.Equal(t, 1, count(t, d.Pool(), `SELECT count(*) FROM pg_class WHERE relname = 'snapshots'`))
}

func TestEverythingIsCommented(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	const uncommented = `SELECT count(*)
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = $1 AND c.relkind IN ('r', 'v') AND c.relname <> 'schema_migrations'
  AND (obj_description(c.oid, 'pg_class') IS NULL
       OR (a.attnum IS NOT NULL AND col_description(c.oid, a.attnum) IS NULL))`

	require.Equal(t, 0, count(t, d.Pool(), uncommented, db.DefaultSchema))
}

// A database the exporter never migrated has no schema: its version is 0 and
// there is nothing to migrate down, rather than a "schema does not exist"
// failure.
func TestMigrateVersionWithoutSchema(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	d := dbtest.Open(t, dbtest.EmptyURL(t))

	v, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Zero(t, v)
	require.False(t, dirty)
	require.ErrorIs(t, d.MigrateDown(ctx, 1), db.ErrBadMigrateArgs)
}

// `migrate down 999` reverted every migration, dropping every table, and
// only then failed with golang-migrate's "limit 993 short". More steps than
// are applied is now refused before anything changes.
func TestMigrateDownMoreThanAppliedChangesNothing(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()

	for _, n := range []int{latestVersion + 1, 999} {
		err := d.MigrateDown(ctx, n)
		require.ErrorIs(t, err, db.ErrBadMigrateArgs)
		require.Contains(t, err.Error(), fmt.Sprintf("only %d migrations are applied", latestVersion))
	}

	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion), version)
	require.False(t, dirty)
	require.Equal(t, 1, count(t, d.Pool(), `SELECT count(*) FROM pg_class WHERE relname = 'snapshots'`))

	require.NoError(t, d.MigrateDown(ctx, latestVersion), "every applied migration may be reverted")
	version, _, err = d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Zero(t, version)
	require.ErrorIs(t, d.MigrateDown(ctx, 1), db.ErrBadMigrateArgs)
}

// `migrate force 999` recorded a version no file has, from which no later
// migrate up could start. Only the embedded versions, and 0 or -1 for none,
// are accepted.
func TestMigrateForceRefusesUnknownVersions(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()

	for _, v := range []int{latestVersion + 1, 999, -2} {
		err := d.MigrateForce(ctx, v)
		require.ErrorIs(t, err, db.ErrBadMigrateArgs, "force %d", v)
		require.Contains(t, err.Error(), "one of 1, 2, 3, 4, 5, 6")
	}

	version, dirty, err := d.MigrateVersion(ctx)
	require.NoError(t, err)
	require.Equal(t, uint(latestVersion), version)
	require.False(t, dirty)
}

// Forcing 0, the version MigrateVersion reports for none, recorded a version
// 0 that golang-migrate then looked for among the files; it now records none,
// and migrate up starts from the first file.
func TestMigrateForceNone(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	for _, v := range []int{0, -1} {
		d := dbtest.Open(t, dbtest.EmptyURL(t))

		require.NoError(t, d.MigrateForce(ctx, v))
		version, dirty, err := d.MigrateVersion(ctx)
		require.NoError(t, err)
		require.Zero(t, version)
		require.False(t, dirty)

		require.NoError(t, d.Migrate(ctx), "force %d", v)
		version, _, err = d.MigrateVersion(ctx)
		require.NoError(t, err)
		require.Equal(t, uint(latestVersion), version)
	}
}
