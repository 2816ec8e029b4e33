package pgtemp_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/pgtemp"
)

func TestStartConnectStop(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	c, err := pgtemp.Start(ctx, logger)
	if os.Getenv("CI") != "true" && errors.Is(err, pgtemp.ErrNotInstalled) {
		t.Skip(err.Error())
	}
	require.NoError(t, err)

	conn, err := pgx.Connect(ctx, c.URL())
	require.NoError(t, err)

	var one int
	require.NoError(t, conn.QueryRow(ctx, "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)

	var encoding string
	require.NoError(t, conn.QueryRow(ctx, "SHOW server_encoding").Scan(&encoding))
	require.Equal(t, "UTF8", encoding)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, c.Stop())

	_, err = pgx.Connect(ctx, c.URL())
	require.Error(t, err, "the server must be gone after Stop")
}

// Restart cuts the open sessions and brings the server back on the same
// port with the data it had.
func TestRestartKeepsPortAndData(t *testing.T) {
	t.Parallel()

	ctx := t.Context()
	c := startCluster(t)
	port := c.Port()

	conn, err := pgx.Connect(ctx, c.URL())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept AS SELECT 42 AS answer")
	require.NoError(t, err)

	require.NoError(t, c.Restart(ctx))
	require.Equal(t, port, c.Port())

	_, err = conn.Exec(ctx, "SELECT 1")
	require.Error(t, err, "a session from before the restart must be cut")
	require.True(t, conn.IsClosed())

	conn, err = pgx.Connect(ctx, c.URL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	var answer int
	require.NoError(t, conn.QueryRow(ctx, "SELECT answer FROM kept").Scan(&answer))
	require.Equal(t, 42, answer)
}

// startCluster starts a cluster stopped when the test ends, or skips the
// test when PostgreSQL is not installed (outside CI).
func startCluster(t *testing.T) *pgtemp.Cluster {
	t.Helper()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := pgtemp.Start(t.Context(), logger)
	if os.Getenv("CI") != "true" && errors.Is(err, pgtemp.ErrNotInstalled) {
		t.Skip(err.Error())
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop()) })

	return c
}

func TestNotInstalledGivesTheInstallHint(t *testing.T) {
	t.Parallel()

	require.Contains(t, pgtemp.ErrNotInstalled.Error(), "apt-get install postgresql")
	require.Contains(t, pgtemp.ErrNotInstalled.Error(), "brew install postgresql")
}
