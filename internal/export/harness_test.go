package export_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

func TestMain(m *testing.M) {
	dbtest.Main(m)
}

// Test credentials: no log line or error may ever contain them.
const (
	clientID     = "mdb_sa_id_exporttest"
	clientSecret = "mdb_sa_sk_SECRET-export-7f3a"
	publicKey    = "pubkeyexport"
	privateKey   = "PRIVATE-export-0d6f5d2a"

	projectA = "5f1a00000000000000000aaa"
	projectB = "5f1a00000000000000000bbb"
)

var t0 = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// harness is one exporter wired to a simulator (through the contract
// check) and a fresh database.
type harness struct {
	t    *testing.T
	sim  *atlassim.Server
	url  string
	db   *db.DB
	pool *pgxpool.Pool
	logs *syncBuffer
	opts options
	seq  atomic.Uint64 // makes snapshot ids unique across instances
}

type options struct {
	pageSize    int
	concurrency int
	apiKey      bool
	maxRetries  int
	// faults checks only requests against the contract: the test sends
	// answers that are deliberately not Atlas's.
	faults bool
	// sim and fetch, when set, adjust the simulator's and each client's
	// settings.
	sim   func(*atlassim.Config)
	fetch func(*fetch.Config)
}

func newHarness(t *testing.T, opts options) *harness {
	t.Helper()

	if opts.pageSize == 0 {
		opts.pageSize = 5
	}
	if opts.concurrency == 0 {
		opts.concurrency = 2
	}
	if opts.maxRetries == 0 {
		opts.maxRetries = 3
	}

	simCfg := atlassim.Config{
		ClientID: clientID, ClientSecret: clientSecret,
		PublicKey: publicKey, PrivateKey: privateKey,
	}
	if opts.sim != nil {
		opts.sim(&simCfg)
	}

	sim := atlassim.New(simCfg)
	var checks []contract.Option
	if opts.faults {
		checks = append(checks, contract.RequestsOnly())
	}

	srv := httptest.NewServer(contract.Wrap(t, sim, checks...))
	t.Cleanup(srv.Close)

	dbURL := dbtest.NewURL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	h := &harness{t: t, sim: sim, url: srv.URL, db: dbtest.Open(t, dbURL), pool: pool, logs: &syncBuffer{}, opts: opts}
	t.Cleanup(h.checkLogsHoldNoSecret)

	return h
}

// client builds a fresh Atlas client, as a new process would.
func (h *harness) client() *fetch.Client {
	h.t.Helper()

	cfg := fetch.Config{
		BaseURL:        h.url,
		PageSize:       h.opts.pageSize,
		MaxRetries:     h.opts.maxRetries,
		RateLimit:      100000,
		RateBurst:      1000,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  5 * time.Millisecond,
		RequestTimeout: 10 * time.Second,
		Logger:         h.logger(),
	}
	if h.opts.apiKey {
		cfg.PublicKey, cfg.PrivateKey = publicKey, privateKey
	} else {
		cfg.ClientID, cfg.ClientSecret = clientID, clientSecret
	}

	if h.opts.fetch != nil {
		h.opts.fetch(&cfg)
	}

	c, err := fetch.NewClient(cfg)
	require.NoError(h.t, err)

	return c
}

func (h *harness) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// run exports the targets once with a fresh client.
func (h *harness) run(targets ...atlas.Target) export.Result {
	h.t.Helper()

	return h.runWith(h.client(), targets...)
}

func (h *harness) runWith(c *fetch.Client, targets ...atlas.Target) export.Result {
	h.t.Helper()

	res, err := export.New(c, h.db, h.logger()).Run(context.Background(), export.Params{
		Targets:     targets,
		Concurrency: h.opts.concurrency,
		Host:        "test",
		PID:         1,
		Version:     "test",
	})
	require.NoError(h.t, err)

	return res
}

// addFlex adds a Flex cluster with n completed snapshots, one an hour back
// from t0, and returns their ids newest first (the listing order).
func (h *harness) addFlex(project, name string, n int) []string {
	h.t.Helper()

	h.sim.AddInstance(project, name, atlas.Flex)
	ids := make([]string, n)
	for i := range n {
		at := t0.Add(-time.Duration(i) * time.Hour)
		ids[i] = h.id(at)
		h.sim.PutSnapshot(project, name, atlassim.FlexSnapshot(ids[i], at, "COMPLETED"))
	}

	return ids
}

// id returns a new snapshot id, unique within the test.
func (h *harness) id(at time.Time) string {
	return atlassim.SnapshotID(at, h.seq.Add(1))
}

func (h *harness) checkLogsHoldNoSecret() {
	logs := h.logs.String()
	for _, secret := range []string{clientSecret, privateKey, "Bearer ", "Authorization"} {
		if strings.Contains(logs, secret) {
			h.t.Errorf("logs contain %q", secret)
		}
	}
}

// count runs a counting query against the exporter's schema.
func (h *harness) count(query string, args ...any) int {
	h.t.Helper()

	var n int
	require.NoError(h.t, h.pool.QueryRow(context.Background(), query, args...).Scan(&n))

	return n
}

// rowStamps identifies every stored row version of snapshots and
// snapshot_versions: equal stamps before and after prove nothing was written.
func (h *harness) rowStamps() string {
	h.t.Helper()

	const query = `SELECT string_agg(s, ',' ORDER BY s) FROM (
    SELECT 's:' || id || ':' || xmin::text AS s FROM atlas_backup.snapshots
    UNION ALL
    SELECT 'v:' || id || ':' || version || ':' || xmin::text FROM atlas_backup.snapshot_versions) AS rows`

	var stamps *string
	require.NoError(h.t, h.pool.QueryRow(context.Background(), query).Scan(&stamps))
	if stamps == nil {
		return ""
	}

	return *stamps
}

// snapshotState is what the database holds of one snapshot.
type snapshotState struct {
	status   string
	removed  bool
	version  int
	versions []string // change of each version, in order
}

func (h *harness) snapshot(id string) snapshotState {
	h.t.Helper()

	var s snapshotState
	err := h.pool.QueryRow(context.Background(),
		`SELECT coalesce(status, ''), removed_at IS NOT NULL, version FROM atlas_backup.snapshots WHERE id = $1`, id,
	).Scan(&s.status, &s.removed, &s.version)
	require.NoError(h.t, err, "snapshot %s", id)

	rows, err := h.pool.Query(context.Background(),
		`SELECT change FROM atlas_backup.snapshot_versions WHERE id = $1 ORDER BY version`, id)
	require.NoError(h.t, err)
	defer rows.Close()

	for rows.Next() {
		var change string
		require.NoError(h.t, rows.Scan(&change))
		s.versions = append(s.versions, change)
	}

	return s
}

// targetRow reads a target's outcome in a run.
func (h *harness) targetRow(runID int64, target string) (status, code string) {
	h.t.Helper()

	err := h.pool.QueryRow(context.Background(),
		`SELECT status, coalesce(error_code, '') FROM atlas_backup.export_run_targets WHERE run_id = $1 AND target = $2`,
		runID, target).Scan(&status, &code)
	require.NoError(h.t, err, "target %s of run %d", target, runID)

	return status, code
}

func target(project, name string) atlas.Target {
	return atlas.Target{ProjectID: project, Name: name}
}

func key(project, name string) string {
	return fmt.Sprintf("%s/%s", project, name)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}
