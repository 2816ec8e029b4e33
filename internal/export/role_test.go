package export_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
)

// The exporter needs nothing but its own schema: a role that may only
// connect, use temporary tables and own the schema migrates it, exports,
// reruns and records its runs. (CREATE SCHEMA IF NOT EXISTS used to ask for
// the database's CREATE privilege even with the schema in place.)
func TestExportAsARoleThatOwnsOnlyItsSchema(t *testing.T) {
	t.Parallel()

	ctx := t.Context()
	dbURL := dbtest.EmptyURL(t)
	dbName := databaseName(t, dbURL)
	admin := connectAs(t, dbtest.URL(t), "", dbName, "")

	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	role, password := "exporter_"+hex.EncodeToString(suffix), hex.EncodeToString(suffix)+"pw"
	ident := pgx.Identifier{role}.Sanitize()
	dbIdent := pgx.Identifier{dbName}.Sanitize()

	for _, stmt := range []string{
		`CREATE ROLE ` + ident + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '` + password + `'`,
		`REVOKE ALL ON DATABASE ` + dbIdent + ` FROM PUBLIC`,
		`REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
		`GRANT CONNECT, TEMPORARY ON DATABASE ` + dbIdent + ` TO ` + ident,
		`CREATE SCHEMA atlas_backup AUTHORIZATION ` + ident,
	} {
		_, err := admin.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		_, _ = admin.Exec(cctx, `DROP OWNED BY `+ident)
		_, _ = admin.Exec(cctx, `DROP ROLE `+ident)
	})

	var createDB, createPublic bool
	require.NoError(t, admin.QueryRow(ctx, `SELECT has_database_privilege($1, current_database(), 'CREATE'),
		has_schema_privilege($1, 'public', 'CREATE')`, role).Scan(&createDB, &createPublic))
	require.False(t, createDB || createPublic, "the role has more than its schema")

	exp, err := db.Open(ctx, db.Config{URL: roleURL(t, dbtest.URL(t), role, password, dbName), AppName: "dbtest"})
	require.NoError(t, err)
	t.Cleanup(exp.Close)
	require.NoError(t, exp.Migrate(ctx), "migrate as the schema owner")

	h := newFaultHarness(t, options{})
	h.addFlex(projectA, "c1", 7)
	h.sim.AddInstance(projectA, "s1", atlas.Serverless)

	for range 2 {
		res, err := export.New(h.client(), exp, h.logger()).Run(ctx, export.Params{
			Targets: []atlas.Target{{ProjectID: projectA}}, Concurrency: 2, Host: "test", PID: 1, Version: "test",
		})
		require.NoError(t, err)
		require.Zero(t, res.Failed(), "%v", res.Targets)
	}

	var snapshots, versions, runs int
	require.NoError(t, admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM atlas_backup.snapshots),
		(SELECT count(*) FROM atlas_backup.snapshot_versions),
		(SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'succeeded')`).Scan(&snapshots, &versions, &runs))
	require.Equal(t, []int{7, 7, 2}, []int{snapshots, versions, runs})
}

func databaseName(t *testing.T, connString string) string {
	t.Helper()

	u, err := url.Parse(connString)
	require.NoError(t, err)

	return u.Path[1:]
}

// roleURL is the server URL with another user, password and database.
func roleURL(t *testing.T, server, user, password, database string) string {
	t.Helper()

	u, err := url.Parse(server)
	require.NoError(t, err)

	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	u.Path = "/" + database

	return u.String()
}

// connectAs opens one connection to database, as the server URL's user when
// user is empty.
func connectAs(t *testing.T, server, user, database, password string) *pgx.Conn {
	t.Helper()

	conn, err := pgx.Connect(t.Context(), roleURL(t, server, user, password, database))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	return conn
}
