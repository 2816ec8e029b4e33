package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// The exporter runs under the least privileges the README asks for: a
// login role that is no superuser, cannot create databases or roles, owns
// the exporter's schema and nothing else, and may only connect and create
// temporary tables in the database. Migrations, views, exports and a second
// run all work.
func TestLeastPrivilegeRole(t *testing.T) {
	t.Parallel()

	emptyURL := dbtest.EmptyURL(t)
	admin := procOpenDB(t, asAdmin(t, emptyURL))
	role := "exporter_" + procRandomHex(4)
	password := procRandomHex(12)
	procRegisterSecrets(password)

	dbName := databaseName(t, emptyURL)
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT`, role, password),
		fmt.Sprintf(`REVOKE ALL ON DATABASE %q FROM PUBLIC`, dbName),
		fmt.Sprintf(`GRANT CONNECT, TEMPORARY ON DATABASE %q TO %s`, dbName, role),
		`REVOKE ALL ON SCHEMA public FROM PUBLIC`,
		fmt.Sprintf(`CREATE SCHEMA atlas_backup AUTHORIZATION %s`, role),
	} {
		_, err := admin.ExecContext(context.Background(), stmt)
		require.NoError(t, err, stmt)
	}
	t.Cleanup(func() { dropRole(t, admin, role) })

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	prodAddInstance(sim, projectP, "a", atlas.Flex, 8)
	prodAddInstance(sim, projectP, "b", atlas.Serverless, 3)

	env := prodEnv(sim, creds, withUser(t, emptyURL, role, password), projectP)
	for range 2 {
		res := prodStart(t, env, "run").wait(t)
		require.Equal(t, exitOK, res.code, res.stderr)
	}

	require.Equal(t, 11, procCount(t, admin, `SELECT count(*) FROM atlas_backup.snapshots`))
	require.Zero(t, procCount(t, admin, `SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
WHERE r.rolname = $1 AND c.relpersistence <> 't'
    AND c.relnamespace NOT IN ('atlas_backup'::regnamespace, 'pg_toast'::regnamespace)`, role),
		"the role owns nothing outside its schema")
}

// asAdmin is url with the server's own (superuser) credentials of dbtest.
func asAdmin(t *testing.T, dbURL string) string {
	t.Helper()

	server, err := url.Parse(dbtest.URL(t))
	require.NoError(t, err)

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = server.User

	return u.String()
}

func withUser(t *testing.T, dbURL, user, password string) string {
	t.Helper()

	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.User = url.UserPassword(user, password)

	return u.String()
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()

	u, err := url.Parse(dbURL)
	require.NoError(t, err)

	return u.Path[1:]
}

// dropRole removes the role's objects and the role itself: roles belong to
// the whole server and would outlive the test database.
func dropRole(t *testing.T, admin *sql.DB, role string) {
	t.Helper()

	ctx := context.Background()
	for _, stmt := range []string{`DROP SCHEMA IF EXISTS atlas_backup CASCADE`, `DROP OWNED BY ` + role, `DROP ROLE ` + role} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			t.Errorf("%s: %v", stmt, err)
		}
	}
}
