package fetch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

const (
	simPublicKey  = "simpubkey"
	simPrivateKey = "sim-private-key-0d6f"
)

var simT0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// simClock is a settable clock for the simulator's token expiry.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.t
}

func (c *simClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.t = c.t.Add(d)
}

// simEnv is a simulator behind the OpenAPI contract check and a Client for
// it.
type simEnv struct {
	sim    *atlassim.Server
	client *Client
	logs   *logBuffer
	clock  *simClock
}

// simOptions adjust newSimEnv.
type simOptions struct {
	sim      func(*atlassim.Config)
	client   func(*Config)
	contract []contract.Option
}

// newSimEnv starts a simulator that accepts both credential kinds and a
// Client that uses the service account, unless opts say otherwise.
func newSimEnv(t *testing.T, opts simOptions) *simEnv {
	t.Helper()

	clock := &simClock{t: simT0}
	simCfg := atlassim.Config{
		ClientID: testClientID, ClientSecret: testClientSecret,
		PublicKey: simPublicKey, PrivateKey: simPrivateKey,
		Now: clock.Now,
	}
	if opts.sim != nil {
		opts.sim(&simCfg)
	}

	sim := atlassim.New(simCfg)
	srv := httptest.NewServer(contract.Wrap(t, sim, opts.contract...))
	t.Cleanup(srv.Close)

	logs := &logBuffer{}
	cfg := testConfig(srv.URL, logs)
	oauthConfig(&cfg)
	if opts.client != nil {
		opts.client(&cfg)
	}

	c, err := NewClient(cfg)
	require.NoError(t, err)

	return &simEnv{sim: sim, client: c, logs: logs, clock: clock}
}

// fill gives the instance n snapshots of its family.
func (e *simEnv) fill(projectID, name string, family atlas.Family, n int) {
	e.sim.AddInstance(projectID, name, family)
	for i := range n {
		id := atlassim.SnapshotID(simT0, uint64(i+1))
		taken := simT0.Add(-time.Duration(i) * time.Hour)
		snap := atlassim.FlexSnapshot(id, taken, "COMPLETED")
		if family == atlas.Serverless {
			snap = atlassim.ServerlessSnapshot(id, taken, "completed", int64(1000+i))
		}

		e.sim.PutSnapshot(projectID, string(family)+":"+name, snap)
	}
}

// listingRequests counts logged requests for the instance's listing path.
func (e *simEnv) listingRequests(inst atlas.Instance) int {
	path, _, _ := snapshotsPath(inst)

	n := 0
	for _, r := range e.sim.Requests() {
		if r.Path == path {
			n++
		}
	}

	return n
}

func TestSimPaging(t *testing.T) {
	t.Parallel()

	const pageSize = 5

	for _, family := range []atlas.Family{atlas.Flex, atlas.Serverless} {
		for _, n := range []int{0, pageSize, 3 * pageSize, 3*pageSize + 1} {
			t.Run(fmt.Sprintf("%s %d snapshots", family, n), func(t *testing.T) {
				t.Parallel()

				env := newSimEnv(t, simOptions{client: func(cfg *Config) { cfg.PageSize = pageSize }})
				inst := atlas.Instance{ProjectID: testProject, Name: "paged", Family: family}
				env.fill(testProject, "paged", family, n)

				var ids []string
				stats, err := env.client.ListSnapshots(t.Context(), inst, func(p Page) error {
					for _, s := range p.Snapshots {
						ids = append(ids, s.ID)
					}

					return nil
				})
				require.NoError(t, err)

				want := max(1, (n+pageSize-1)/pageSize) // Atlas's count ends it on a full page
				require.Equal(t, want, env.listingRequests(inst))
				require.Equal(t, want, stats.Requests)
				require.Equal(t, want, stats.Pages)

				var simIDs []string
				for _, s := range env.sim.Snapshots(testProject, string(family)+":paged") {
					simIDs = append(simIDs, s["id"].(string))
				}

				require.Equal(t, simIDs, ids)
			})
		}
	}
}

func TestSimAuthModes(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		sim    func(*atlassim.Config)
		client func(*Config)
		scheme atlassim.AuthScheme
		tokens int
	}{
		{name: "service account", scheme: atlassim.AuthBearer, tokens: 1},
		{
			name:   "api key md5",
			client: func(cfg *Config) { *cfg = digestOnly(*cfg) },
			scheme: atlassim.AuthDigest,
		},
		{
			name:   "api key sha-256",
			sim:    func(cfg *atlassim.Config) { cfg.DigestSHA256 = true },
			client: func(cfg *Config) { *cfg = digestOnly(*cfg) },
			scheme: atlassim.AuthDigest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			env := newSimEnv(t, simOptions{sim: tt.sim, client: tt.client})
			for i := range 8 {
				env.fill(testProject, fmt.Sprintf("db-%d", i), atlas.Flex, 3)
			}

			insts, _, err := env.client.Discover(t.Context(), testProject)
			require.NoError(t, err)
			require.Len(t, insts, 8)

			var wg sync.WaitGroup
			errs := make([]error, len(insts))
			for i, inst := range insts {
				wg.Go(func() {
					_, _, errs[i] = collect(t.Context(), env.client, inst)
				})
			}

			wg.Wait()

			for _, err := range errs {
				require.NoError(t, err)
			}

			require.Equal(t, tt.tokens, env.sim.TokenRequests())
			for _, r := range env.sim.Requests() {
				if r.Status == http.StatusOK && r.Path != tokenPath {
					require.Equal(t, tt.scheme, r.Auth, r.Path)
				}
			}

			require.NotContains(t, env.logs.String(), testClientSecret)
			require.NotContains(t, env.logs.String(), simPrivateKey)
		})
	}
}

// digestOnly swaps the service account for the simulator's API key.
func digestOnly(cfg Config) Config {
	cfg.ClientID, cfg.ClientSecret = "", ""
	cfg.PublicKey, cfg.PrivateKey = simPublicKey, simPrivateKey

	return cfg
}

func TestSimExpiredTokenIsRenewed(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{})
	env.fill(testProject, "db", atlas.Flex, 2)

	_, _, err := collect(t.Context(), env.client, flexInstance("db"))
	require.NoError(t, err)

	env.clock.Add(2 * time.Hour)

	_, _, err = collect(t.Context(), env.client, flexInstance("db"))
	require.NoError(t, err)
	require.Equal(t, 2, env.sim.TokenRequests())
}

func TestSimFaults(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		fault    func(n int) *atlassim.Fault
		requests int
		retries  int
		wantErr  string
		waits    func(t *testing.T, waits []time.Duration)
	}{
		{
			name: "429 with retry-after",
			fault: func(n int) *atlassim.Fault {
				if n == 1 {
					return &atlassim.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"2"}}}
				}

				return nil
			},
			requests: 3, retries: 1,
			waits: func(t *testing.T, waits []time.Duration) {
				require.Equal(t, []time.Duration{2 * time.Second}, waits)
			},
		},
		{
			name: "503 then 200",
			fault: func(n int) *atlassim.Fault {
				if n == 2 {
					return &atlassim.Fault{Status: http.StatusServiceUnavailable}
				}

				return nil
			},
			requests: 3, retries: 1,
		},
		{
			name: "truncated body is retried",
			fault: func(n int) *atlassim.Fault {
				if n == 1 {
					return &atlassim.Fault{Truncate: true}
				}

				return nil
			},
			requests: 3, retries: 1,
		},
		{
			name: "500 until retries run out",
			fault: func(int) *atlassim.Fault {
				return &atlassim.Fault{Status: http.StatusInternalServerError}
			},
			requests: 4, retries: 3,
			wantErr: "list flex snapshots page 1: after 4 attempts: GET /api/atlas/v2/groups/" + testProject +
				"/flexClusters/db/backup/snapshots: status 500 UNEXPECTED_ERROR: Injected fault.",
		},
		{
			name: "html from a proxy",
			fault: func(int) *atlassim.Fault {
				return &atlassim.Fault{
					Status: http.StatusBadGateway,
					Header: http.Header{"Content-Type": {"text/html"}},
					Body:   []byte("<html><body><h1>502 Bad Gateway</h1></body></html>"),
				}
			},
			requests: 4, retries: 3,
			wantErr: "status 502: <html><body><h1>502 Bad Gateway</h1></body></html>",
		},
		{
			name: "not json on 200 is not retried",
			fault: func(int) *atlassim.Fault {
				return &atlassim.Fault{Status: http.StatusOK, Body: []byte("maintenance")}
			},
			requests: 1,
			wantErr:  `response is not JSON`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			env := newSimEnv(t, simOptions{
				client:   func(cfg *Config) { cfg.PageSize = 2 },
				contract: []contract.Option{contract.RequestsOnly()},
			})
			env.fill(testProject, "db", atlas.Flex, 3)
			env.sim.Intercept(func(_ *http.Request, n int) *atlassim.Fault { return tt.fault(n) })
			waits := recordSleeps(env.client)

			_, stats, err := collect(t.Context(), env.client, flexInstance("db"))
			require.Equal(t, tt.requests, stats.Requests)
			require.Equal(t, tt.retries, stats.Retries)

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}

			if tt.waits != nil {
				tt.waits(t, waits())
			}
		})
	}
}

func TestSimServerlessRetired(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{})
	env.fill(testProject, "flexy", atlas.Flex, 1)
	env.fill(testProject, "old", atlas.Serverless, 1)
	env.sim.Retire(atlas.Serverless)

	insts, stats, err := env.client.Discover(t.Context(), testProject)
	require.NoError(t, err)
	require.Equal(t, []string{"flex:flexy"}, names(insts))
	require.Equal(t, 2, stats.Requests)
	require.Contains(t, env.logs.String(), "serverless listing retired")

	old := atlas.Instance{ProjectID: testProject, Name: "old", Family: atlas.Serverless}
	_, stats, err = collect(t.Context(), env.client, old)
	require.True(t, IsRetired(err), "err: %v", err)
	require.Equal(t, CodeVersionGone, ErrorCodeOf(err))
	require.ErrorContains(t, err, "the API version was retired")
	require.Equal(t, 1, stats.Requests)
}

func TestSimDiscoverAndResolve(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{})
	env.fill(testProject, "both", atlas.Flex, 1)
	env.fill(testProject, "both", atlas.Serverless, 1)
	env.fill(testProject, "flexonly", atlas.Flex, 1)
	env.fill(testProject, "slsonly", atlas.Serverless, 1)

	insts, _, err := env.client.Discover(t.Context(), testProject)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"flex:both", "flex:flexonly", "serverless:slsonly"}, names(insts))

	for _, inst := range insts {
		require.Equal(t, "IDLE", inst.State)
		require.NotEmpty(t, inst.MongoDBVersion)
		require.NotNil(t, inst.BackupEnabled)
		require.True(t, *inst.BackupEnabled)
	}

	resolve := func(tg atlas.Target) ([]string, error) {
		insts, _, err := env.client.Resolve(t.Context(), tg)
		return names(insts), err
	}

	got, err := resolve(atlas.Target{ProjectID: testProject, Name: "slsonly"})
	require.NoError(t, err)
	require.Equal(t, []string{"serverless:slsonly"}, got)

	got, err = resolve(atlas.Target{ProjectID: testProject, Name: "both", Family: atlas.Serverless})
	require.NoError(t, err)
	require.Equal(t, []string{"serverless:both"}, got)

	env.sim.EmptyServerlessList(true)

	_, err = resolve(atlas.Target{ProjectID: testProject, Name: "slsonly"})
	require.True(t, IsNotFound(err))
	require.Equal(t, CodeFlexClusterNotFound, ErrorCodeOf(err))

	_, _, err = env.client.Discover(t.Context(), "0123456789abcdef01234567")
	require.Equal(t, atlassim.CodeGroupNotFound, ErrorCodeOf(err))
}

func TestSimGetSnapshot(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{})
	env.fill(testProject, "db", atlas.Serverless, 2)
	inst := atlas.Instance{ProjectID: testProject, Name: "db", Family: atlas.Serverless}
	id := atlassim.SnapshotID(simT0, 1)

	s, stats, err := env.client.GetSnapshot(t.Context(), inst, id)
	require.NoError(t, err)
	require.Equal(t, id, s.ID)
	require.Equal(t, atlas.StateCompleted, s.State)
	require.Equal(t, int64(1000), *s.StorageSizeBytes)
	require.Equal(t, simT0, *s.TakenAt)
	require.Equal(t, 1, stats.Requests)

	env.sim.RemoveSnapshot(testProject, "serverless:db", id)

	_, _, err = env.client.GetSnapshot(t.Context(), inst, id)
	require.True(t, IsNotFound(err), "err: %v", err)
	require.False(t, IsRetired(err))
	require.Equal(t, atlassim.CodeSnapshotNotFound, ErrorCodeOf(err))
}

func TestSimOddSnapshotData(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{contract: []contract.Option{contract.RequestsOnly()}})
	env.sim.AddInstance(testProject, "db", atlas.Serverless)
	env.sim.PutSnapshot(testProject, "db", map[string]any{
		"id":               hexID(1),
		"createdAt":        "2026-02-28T23:30:00.123+05:30",
		"status":           "inProgress",
		"storageSizeBytes": json.Number("9007199254740993"),
		"futureField":      map[string]any{"nested": json.Number("12345678901234567890.5")},
	})
	env.sim.PutSnapshot(testProject, "db", map[string]any{"id": hexID(2)})

	pages, _, err := collect(t.Context(), env.client, atlas.Instance{ProjectID: testProject, Name: "db", Family: atlas.Serverless})
	require.NoError(t, err)
	require.Len(t, pages, 1)

	byID := map[string]atlas.Snapshot{}
	for _, s := range pages[0].Snapshots {
		byID[s.ID] = s
	}

	odd := byID[hexID(1)]
	require.Equal(t, int64(9007199254740993), *odd.StorageSizeBytes)
	require.Equal(t, time.Date(2026, 2, 28, 18, 0, 0, 123_000_000, time.UTC), *odd.TakenAt)
	require.Equal(t, atlas.StateInProgress, odd.State)
	require.Contains(t, string(odd.Raw), "9007199254740993")
	require.Contains(t, string(odd.Raw), "12345678901234567890.5")

	bare := byID[hexID(2)]
	require.Nil(t, bare.TakenAt)
	require.Nil(t, bare.StorageSizeBytes)
	require.Empty(t, bare.Status)
}

func TestSimDeprecationWarnedOnce(t *testing.T) {
	t.Parallel()

	env := newSimEnv(t, simOptions{})
	env.fill(testProject, "db", atlas.Serverless, 1)
	inst := atlas.Instance{ProjectID: testProject, Name: "db", Family: atlas.Serverless}

	for range 3 {
		_, _, err := collect(t.Context(), env.client, inst)
		require.NoError(t, err)
	}

	require.Equal(t, 1, env.logs.count("atlas api version deprecated"))
	require.Contains(t, env.logs.String(), `"sunset":"Thu, 22 Jan 2026 00:00:00 GMT"`)
	require.False(t, strings.Contains(env.logs.String(), testToken))
}
