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
			name: "url that does not parse",
			url:  "postgres://exporter:" + secret + "@127.0.0.1:notaport/exports",
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
