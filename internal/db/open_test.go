package db_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	return strconv.Itoa(port)
}

func TestConnectErrorNeverShowsThePassword(t *testing.T) {
	t.Parallel()

	const secret = "s3cr%et-PW"
	port := closedPort(t)

	tests := []struct {
		name     string
		url      string
		host     string
		database string
	}{
		{
			name: "url to a closed port", host: "127.0.0.1", database: "exports",
			url: "postgres://exporter:" + "s3cr%25et-PW" + "@127.0.0.1:" + port + "/exports?connect_timeout=5",
		},
		{
			name: "key value to a closed port", host: "127.0.0.1", database: "exports",
			url: "host=127.0.0.1 port=" + port + " user=exporter password='" + secret + "' dbname=exports connect_timeout=5",
		},
		{
			name: "url with the password as a parameter", host: "127.0.0.1", database: "exports",
			url: "postgres://exporter@127.0.0.1:" + port + "/exports?password=" + "s3cr%25et-PW" + "&connect_timeout=5",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			_, err := db.Open(ctx, db.Config{URL: tt.url})
			require.Error(t, err)

			var ce *db.ConnectError
			require.True(t, errors.As(err, &ce), "got %T: %v", err, err)
			require.Equal(t, tt.host, ce.Host)
			require.Equal(t, tt.database, ce.Database)

			for e := error(err); e != nil; e = errors.Unwrap(e) {
				require.NotContains(t, e.Error(), secret)
				require.NotContains(t, e.Error(), "s3cr%25et-PW")
				require.NotContains(t, e.Error(), "s3cr")
			}
		})
	}
}

func TestOpenSetsSearchPathAndTimeout(t *testing.T) {
	t.Parallel()

	url := dbtest.NewURL(t)
	d, err := db.Open(context.Background(), db.Config{URL: url, StatementTimeout: 1500 * time.Millisecond, AppName: "probe"})
	require.NoError(t, err)
	defer d.Close()

	var path, timeout, app string
	err = d.Pool().QueryRow(context.Background(), `SELECT current_setting('search_path'), current_setting('statement_timeout'),
    current_setting('application_name')`).Scan(&path, &timeout, &app)
	require.NoError(t, err)
	require.Equal(t, `"atlas_backup"`, path)
	require.Equal(t, "1500ms", timeout)
	require.Equal(t, "probe", app)
	require.NoError(t, d.Ping(context.Background()))
}

// A DATABASE_URL that cannot be parsed at all was reported as an unreachable
// database (exit 3) after trying; it is a *ConfigError, found before any I/O,
// whose text holds no password.
func TestOpenRefusesUnparsableURL(t *testing.T) {
	t.Parallel()

	const secret = "Hunter2Zebra9"

	tests := []struct {
		name string
		url  string
		want string // what the reason says, when it matters
	}{
		{"bad sslmode", "postgres://exporter:" + secret + "@127.0.0.1/backups?sslmode=sometimes", "sslmode"},
		{"not postgres", "mysql://exporter:" + secret + "@127.0.0.1/backups", "postgres://"},
		{"port not a number", "postgres://exporter:" + secret + "@127.0.0.1:port/backups", "port"},
		{"port out of range", "postgres://exporter:" + secret + "@127.0.0.1:99999/backups", "port"},
		{"scheme without its colon", "postgres//exporter:" + secret + "@127.0.0.1/backups", ""},
		{"scheme with one slash", "postgres:/exporter:" + secret + "@127.0.0.1/backups", ""},
		{"a password alone", secret, ""},
		{"key value with a bad port", "host=127.0.0.1 port=x password=" + secret, ""},
		{"password with a slash", "postgres://exporter:Hunter2/Zebra9@127.0.0.1/backups", ""},
		{"colon after an at", "postgres://exporter@Hunter2:Zebra9@127.0.0.1/backups", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.ErrorAs(t, db.ValidateURL(tt.url), new(*db.ConfigError))

			_, err := db.Open(t.Context(), db.Config{URL: tt.url})

			var ce *db.ConfigError
			require.ErrorAs(t, err, &ce, "got %T: %v", err, err)
			require.False(t, errors.As(err, new(*db.ConnectError)))
			require.Contains(t, err.Error(), "DATABASE_URL")
			require.Contains(t, err.Error(), tt.want)
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				require.NotContains(t, e.Error(), "Hunter2")
				require.NotContains(t, e.Error(), "Zebra9")
			}
		})
	}
}

func TestValidateURLAcceptsConnectionStrings(t *testing.T) {
	t.Parallel()

	for _, url := range []string{
		"postgres://exporter:pw@db.internal:5432/backups?sslmode=require",
		"postgresql://db.internal/backups",
		"host=db.internal port=5432 dbname=backups user=exporter password='p w'",
	} {
		require.NoError(t, db.ValidateURL(url), url)
	}
}

// A password with an unescaped '@' made the error say "connect to postgres
// at Zebra9@127.0.0.1": pgx ends the user info at the first '@', so the
// password's tail became part of the host. The error shows the host after
// the last '@' and no piece of the user info.
func TestConnectErrorWithAnUnescapedAtInThePassword(t *testing.T) {
	t.Parallel()

	port := closedPort(t)

	tests := []struct {
		name     string
		userinfo string
		pieces   []string
	}{
		{"one at", "exporter:Hunter2@Zebra9", []string{"Hunter2", "Zebra9"}},
		{"two ats", "exporter:Hun@ter2@Zebra9", []string{"Hun@ter2", "ter2", "Zebra9"}},
		{"no user name", "Hunter2@Zebra9", []string{"Hunter2", "Zebra9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			url := "postgres://" + tt.userinfo + "@127.0.0.1:" + port + "/backups?connect_timeout=5"
			_, err := db.Open(t.Context(), db.Config{URL: url})

			var ce *db.ConnectError
			require.ErrorAs(t, err, &ce, "got %T: %v", err, err)
			require.Equal(t, "127.0.0.1", ce.Host)
			require.Equal(t, "backups", ce.Database)
			require.Contains(t, err.Error(), "connect to postgres at 127.0.0.1:"+port)
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				for _, p := range tt.pieces {
					require.NotContains(t, e.Error(), p)
				}
			}
		})
	}
}
