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

func TestNotInstalledGivesTheInstallHint(t *testing.T) {
	t.Parallel()

	require.Contains(t, pgtemp.ErrNotInstalled.Error(), "apt-get install postgresql")
	require.Contains(t, pgtemp.ErrNotInstalled.Error(), "brew install postgresql")
}
