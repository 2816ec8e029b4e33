package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Helpers shared by the fault, property and security tests: what "the
// database is exactly right" means, and the secret sweep.

// requireMirror checks that the database holds exactly what the simulator
// holds for one instance: every simulator snapshot stored live with the same
// JSON (numbers to the digit), every other stored snapshot of the instance
// marked removed, and no history version that repeats the one before it.
func (h *harness) requireMirror(project, name string) {
	h.t.Helper()

	want := map[string]any{}
	for _, snap := range h.sim.Snapshots(project, name) {
		want[snap["id"].(string)] = normJSON(h.t, mustJSON(h.t, snap))
	}

	rows, err := h.pool.Query(context.Background(),
		`SELECT id, raw::text, removed_at IS NOT NULL FROM atlas_backup.snapshots WHERE project_id = $1 AND instance_name = $2`,
		project, name)
	require.NoError(h.t, err)
	defer rows.Close()

	live := map[string]bool{}
	for rows.Next() {
		var id, raw string
		var removed bool
		require.NoError(h.t, rows.Scan(&id, &raw, &removed))

		w, inSim := want[id]
		require.Equal(h.t, inSim, !removed, "snapshot %s: in the simulator %t, removed %t", id, inSim, removed)
		if inSim {
			require.Equal(h.t, w, normJSON(h.t, []byte(raw)), "snapshot %s raw", id)
			live[id] = true
		}
	}
	require.NoError(h.t, rows.Err())
	require.Len(h.t, live, len(want), "%s/%s: every simulator snapshot stored", project, name)

	h.requireCleanHistory()
}

// requireCleanHistory checks the history's own invariants: one current
// version per snapshot, equal to the snapshot's version, and no version
// that merely repeats the one before it.
func (h *harness) requireCleanHistory() {
	h.t.Helper()

	require.Zero(h.t, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions a
JOIN atlas_backup.snapshot_versions b ON b.id = a.id AND b.version = a.version + 1
WHERE a.change <> 'removed' AND b.change <> 'removed' AND a.raw = b.raw`), "versions that repeat the one before")
	require.Zero(h.t, h.count(`SELECT count(*) FROM atlas_backup.snapshots s
WHERE s.version <> (SELECT max(v.version) FROM atlas_backup.snapshot_versions v WHERE v.id = s.id)
   OR (SELECT count(*) FROM atlas_backup.snapshot_versions v WHERE v.id = s.id AND v.valid_to IS NULL) <> 1`),
		"snapshots whose current version is not the last one")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()

	b, err := json.Marshal(v)
	require.NoError(t, err)

	return b
}

// normJSON decodes JSON keeping numbers as their digits, so that equal
// values compare equal whatever the key order or spacing.
func normJSON(t *testing.T, b []byte) any {
	t.Helper()

	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()

	var v any
	require.NoError(t, dec.Decode(&v), "%s", b)

	return v
}

// requireSameJSON compares two JSON documents by value.
func requireSameJSON(t *testing.T, want, got []byte) {
	t.Helper()

	require.True(t, reflect.DeepEqual(normJSON(t, want), normJSON(t, got)), "want %s\ngot  %s", want, got)
}

// sweepSecrets searches everything the test left behind for the test
// credentials and every token the simulator issued: the logs, the errors
// of the given results, and every row of every table of the schema.
func (h *harness) sweepSecrets(extra ...string) {
	h.t.Helper()

	secrets := append([]string{clientSecret, privateKey}, h.sim.IssuedTokens()...)
	secrets = append(secrets, extra...)

	places := map[string]string{"logs": h.logs.String(), "database": h.dumpSchema()}
	for where, text := range places {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				h.t.Errorf("%s contain a secret (%.8s...)", where, s)
			}
		}

		for _, marker := range []string{"Bearer ", "Authorization", "Digest username"} {
			if strings.Contains(text, marker) {
				h.t.Errorf("%s contain %q", where, marker)
			}
		}
	}
}

// dumpSchema renders every row of every table of the exporter's schema as
// text.
func (h *harness) dumpSchema() string {
	h.t.Helper()

	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'atlas_backup' AND table_type = 'BASE TABLE' ORDER BY table_name`)
	require.NoError(h.t, err)

	var tables []string
	for rows.Next() {
		var name string
		require.NoError(h.t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(h.t, rows.Err())
	require.NotEmpty(h.t, tables)

	var b strings.Builder
	for _, table := range tables {
		var text *string
		query := fmt.Sprintf(`SELECT string_agg(t::text, E'\n') FROM atlas_backup.%q AS t`, table)
		require.NoError(h.t, h.pool.QueryRow(ctx, query).Scan(&text))
		if text != nil {
			b.WriteString(*text + "\n")
		}
	}

	return b.String()
}

// requireErrorsHoldNoSecret checks the error text of every target.
func requireErrorsHoldNoSecret(t *testing.T, h *harness, errs ...error) {
	t.Helper()

	secrets := append([]string{clientSecret, privateKey, "Bearer "}, h.sim.IssuedTokens()...)
	for _, err := range errs {
		if err == nil {
			continue
		}

		for _, s := range secrets {
			require.NotContains(t, err.Error(), s)
		}
	}
}

// clock is a simulator clock that a test can move forward.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.off += d
}

// pageNum is the pageNum of a listing request.
func pageNum(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("pageNum"))

	return n
}

// listingBody renders a listing page holding snaps.
func listingBody(t *testing.T, snaps []map[string]any) []byte {
	t.Helper()

	if snaps == nil {
		snaps = []map[string]any{}
	}

	return mustJSON(t, map[string]any{"results": snaps, "links": []any{}})
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
