package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// A backend that burned CPU and disconnected is in the server's CPU once
// awaitBackendsGone returns: not lost between its exit and its reaping.
func TestServerCPUCountsEndedBackends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Finding the postmaster takes a superuser: the server's own URL.
	admin := connect(ctx, t, dbtest.URL(t))
	server := findServer(ctx, admin)
	if !server.local() {
		if os.Getenv("CI") == "true" {
			t.Fatal("the test database's server is not on this machine: its CPU cannot be read")
		}

		t.Skip("the test database's server is not on this machine")
	}

	url := dbtest.EmptyURL(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse the test database URL: %v", err)
	}

	before := server.cpu()
	burned := burnAndDisconnect(ctx, t, url)
	server.awaitBackendsGone(ctx, cfg.Database, admin.PgConn().PID())

	if got := server.cpu() - before; got < burned {
		t.Errorf("server CPU grew by %v, less than the %v the ended backend had used", got, burned)
	}
}

// burnAndDisconnect runs a CPU-bound query on a new connection, reads its
// backend's CPU time while it is still connected, then closes it.
func burnAndDisconnect(ctx context.Context, t *testing.T, url string) time.Duration {
	t.Helper()

	conn := connect(ctx, t, url)
	if _, err := conn.Exec(ctx, `SELECT count(*) FROM generate_series(1, 5000000)`); err != nil {
		t.Fatalf("burn CPU: %v", err)
	}

	st, ok := readStat(int(conn.PgConn().PID()))
	if !ok {
		t.Fatalf("read the backend's /proc stat")
	}

	if st.self == 0 {
		t.Fatalf("the backend shows no CPU time after its query")
	}

	if err := conn.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	return st.self
}

func connect(ctx context.Context, t *testing.T, url string) *pgx.Conn {
	t.Helper()

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}

	t.Cleanup(func() { _ = conn.Close(context.Background()) })

	return conn
}
