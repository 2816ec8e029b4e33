package atlassim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

const (
	projectA = "5f1a0000000000000000000a"
	projectB = "5f1a0000000000000000000b"

	clientID     = "mdb_sa_id_test"
	clientSecret = "mdb_sa_sk_test"
	publicKey    = "pubkeytest"
	privateKey   = "0d6f5d2a-private-key"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source for token, nonce and bucket expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.t = c.t.Add(d)
}

// start serves sim through the contract check on a real loopback server.
func start(t *testing.T, sim *atlassim.Server, opts ...contract.Option) *httptest.Server {
	t.Helper()

	srv := httptest.NewServer(contract.Wrap(t, sim, opts...))
	t.Cleanup(srv.Close)

	return srv
}

// openSim is a simulator without authentication, on the test clock.
func openSim(c *clock) *atlassim.Server {
	return atlassim.New(atlassim.Config{NoAuth: true, Now: c.Now})
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()

	var m map[string]any
	require.NoError(t, json.Unmarshal(a.body, &m), string(a.body))

	return m
}

// get sends a GET with the given Accept (none when empty).
func get(t *testing.T, c *http.Client, url, accept string, hdr ...string) answer {
	t.Helper()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}

	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}

	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)

	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// requireAPIError checks an Atlas error answer.
func requireAPIError(t *testing.T, a answer, status int, code string) {
	t.Helper()

	require.Equal(t, status, a.status, string(a.body))
	require.Equal(t, "application/json", a.header.Get("Content-Type"))

	m := a.json(t)
	require.EqualValues(t, status, m["error"])
	require.Equal(t, code, m["errorCode"])
	require.Equal(t, http.StatusText(status), m["reason"])
	require.NotEmpty(t, m["detail"])
	require.IsType(t, []any{}, m["parameters"])
}

func flexSnaps(base string) string {
	return base + "/api/atlas/v2/groups/" + projectA + "/flexClusters/alpha/backup/snapshots"
}

func slsSnaps(base string) string {
	return base + "/api/atlas/v2/groups/" + projectA + "/serverless/beta/backup/snapshots"
}

// seed adds project A with Flex cluster alpha and Serverless instance beta,
// each with n snapshots an hour apart, newest at t0.
func seed(sim *atlassim.Server, n int) (flexIDs, slsIDs []string) {
	sim.AddProject(projectA, "project-a")
	sim.AddInstance(projectA, "alpha", atlas.Flex)
	sim.AddInstance(projectA, "beta", atlas.Serverless)

	for i := range n {
		at := t0.Add(-time.Duration(i) * time.Hour)
		fid := atlassim.SnapshotID(at, uint64(i))
		sim.PutSnapshot(projectA, "alpha", atlassim.FlexSnapshot(fid, at, "COMPLETED"))
		flexIDs = append(flexIDs, fid)

		sid := atlassim.SnapshotID(at, uint64(1000+i))
		sim.PutSnapshot(projectA, "beta", atlassim.ServerlessSnapshot(sid, at, "completed", int64(1<<30+i)))
		slsIDs = append(slsIDs, sid)
	}

	return flexIDs, slsIDs
}
