package export_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// The API fault matrix: each test scripts one fault of Atlas or of what
// stands in front of it, and ends with the database exactly right.

// newFaultHarness is newHarness plus a sweep of logs and database for
// credentials and tokens when the test ends.
func newFaultHarness(t *testing.T, opts options) *harness {
	t.Helper()

	h := newHarness(t, opts)
	t.Cleanup(func() { h.sweepSecrets() })

	return h
}

// A Digest nonce that goes stale between challenge and answer (a long pause
// in between) is answered with one fresh challenge, not reported as an
// authentication failure.
func TestDigestStaleNonceGetsOneFreshChallenge(t *testing.T) {
	t.Parallel()

	clk := &clock{}
	var stale, paused atomic.Int32
	base := http.DefaultTransport.(*http.Transport).Clone()
	h := newFaultHarness(t, options{
		apiKey: true,
		sim:    func(c *atlassim.Config) { c.Now = clk.now },
		fetch: func(c *fetch.Config) {
			c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				resp, err := base.RoundTrip(r)
				if err != nil || resp.StatusCode != http.StatusUnauthorized {
					return resp, err
				}

				if strings.Contains(resp.Header.Get("WWW-Authenticate"), "stale=true") {
					stale.Add(1)
				}

				// The challenge for page 2 is answered only after the
				// nonce's lifetime has passed.
				if isListing(r) && pageNum(r) == 2 && r.Header.Get("Authorization") == "" && paused.Add(1) == 1 {
					clk.advance(time.Hour)
				}

				return resp, err
			})
		},
	})
	h.addFlex(projectA, "c1", 12)

	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed(), "%v", res.Targets)
	require.Equal(t, int32(1), stale.Load(), "one stale answer")
	require.Zero(t, res.Totals.Retries, "the fresh challenge is not a retry")
	h.requireMirror(projectA, "c1")
}

// A service account token that expires in the middle of a run is replaced
// once, and a token endpoint that answers 429 once is asked again after a
// pause: the token endpoint sees exactly one request per token needed plus
// the refused one.
func TestOAuthTokenExpiresMidRunAndTokenEndpointRateLimited(t *testing.T) {
	t.Parallel()

	clk := &clock{}
	h := newFaultHarness(t, options{concurrency: 3, sim: func(c *atlassim.Config) {
		c.Now = clk.now
		c.TokenTTL = 10 * time.Minute
	}})
	for _, name := range []string{"c1", "c2", "c3", "c4"} {
		h.addFlex(projectA, name, 12)
	}

	h.sim.InterceptToken(func(_ *http.Request, n int) *atlassim.Fault {
		if n == 1 {
			return &atlassim.Fault{Status: http.StatusTooManyRequests}
		}

		return nil
	})
	var expired sync.Once
	h.sim.OnPage(func(_, instance string, page int) {
		if instance == "c3" && page == 2 {
			expired.Do(func() { clk.advance(11 * time.Minute) })
		}
	})

	res := h.run(atlas.Target{ProjectID: projectA})

	require.Zero(t, res.Failed(), "%v", res.Targets)
	require.Equal(t, 3, h.sim.TokenRequests(), "the refused request, the first token, its replacement")
	require.Equal(t, 1, res.Totals.Retries, "only the token endpoint's 429 was retried")
	for _, name := range []string{"c1", "c2", "c3", "c4"} {
		h.requireMirror(projectA, name)
	}
}

// An API version past its sunset (410 VERSION_GONE) fails that family's
// target at once, with no retry, saying the version was retired; nothing of
// it is written and the other family's target exports.
func TestVersionGoneFailsFastAndWritesNothing(t *testing.T) {
	t.Parallel()

	h := newFaultHarness(t, options{faults: true, maxRetries: 5})
	h.sim.AddInstance(projectA, "s1", atlas.Serverless)
	sls := h.id(t0)
	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(sls, t0, "queued", 0))
	flex := h.addFlex(projectA, "c1", 3)
	targets := []atlas.Target{{ProjectID: projectA, Name: "s1", Family: atlas.Serverless}, target(projectA, "c1")}
	h.run(targets...)

	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(sls, t0, "completed", 1<<20))
	h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(flex[0], t0, "FAILED"))
	h.sim.Retire(atlas.Serverless)
	h.sim.ResetLog()

	res := h.run(targets...)

	require.Equal(t, 1, res.Failed())
	var failed error
	for _, tr := range res.Targets {
		if tr.Err != nil {
			failed = tr.Err
			require.Zero(t, tr.Counts.Retries, "no retry of a retired version")
		}
	}
	require.Contains(t, failed.Error(), "retired")
	require.Equal(t, []string{"created"}, h.snapshot(sls).versions, "nothing of the retired family written")
	require.Equal(t, "queued", h.snapshot(sls).status)
	require.Equal(t, "FAILED", h.snapshot(flex[0]).status)

	gone := 0
	for _, r := range h.sim.Requests() {
		if r.Status == http.StatusGone {
			gone++
		}
	}
	require.Equal(t, 1, gone, "the retired endpoint was asked once")
}

// What a proxy in front of Atlas may answer: an HTML error page, a body cut
// off halfway, a body far larger than any real page. Reads are bounded,
// errors say what happened, transient faults are retried, and a failed
// target writes nothing; the next clean run converges.
func TestProxyAnswers(t *testing.T) {
	t.Parallel()

	huge := append([]byte(`{"results":[],"padding":"`), bytes.Repeat([]byte("x"), 1<<20)...)
	huge = append(huge, `"}`...)

	tests := []struct {
		name    string
		fault   atlassim.Fault
		always  bool
		ok      bool
		retries int
		errText string
	}{
		{name: "502 HTML page every time", fault: atlassim.Fault{Status: http.StatusBadGateway,
			Body: []byte("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")},
			always: true, retries: 2, errText: "502 Bad Gateway"},
		{name: "502 HTML page once", fault: atlassim.Fault{Status: http.StatusBadGateway, Body: []byte("<html>Bad Gateway</html>")},
			ok: true, retries: 1},
		{name: "200 cut off halfway once", fault: atlassim.Fault{Truncate: true}, ok: true, retries: 1},
		{name: "200 cut off halfway every time", fault: atlassim.Fault{Truncate: true}, always: true, retries: 2, errText: "after 3 attempts"},
		{name: "200 with a body far larger than any page", fault: atlassim.Fault{Status: http.StatusOK, Body: huge},
			always: true, errText: "response body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newFaultHarness(t, options{faults: true, maxRetries: 2,
				fetch: func(c *fetch.Config) { c.MaxBodyBytes = 256 << 10 }})
			ids := h.addFlex(projectA, "c1", 12)
			h.run(target(projectA, "c1"))
			before := h.rowStamps()

			h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[0], t0, "FAILED"))
			var hits atomic.Int32
			h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
				if !isListing(r) || pageNum(r) != 2 || (!tt.always && hits.Add(1) > 1) {
					return nil
				}

				f := tt.fault

				return &f
			})

			res := h.run(target(projectA, "c1"))

			require.Equal(t, tt.retries, res.Totals.Retries)
			if tt.ok {
				require.Zero(t, res.Failed(), "%v", res.Targets)
				h.requireMirror(projectA, "c1")

				return
			}

			require.Equal(t, 1, res.Failed())
			require.Contains(t, res.Targets[0].Err.Error(), tt.errText)
			require.Equal(t, before, h.rowStamps(), "nothing of the failed target written")
			requireErrorsHoldNoSecret(t, h, res.Targets[0].Err)

			h.sim.Intercept(nil)
			res = h.run(target(projectA, "c1"))
			require.Zero(t, res.Failed())
			h.requireMirror(projectA, "c1")
		})
	}
}

// A redirect to another host is never followed, so the credentials the
// auth layer attaches never reach it: not for an API request under either
// auth mode, not for the token request.
func TestRedirectToAnotherHostCarriesNoCredentials(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		apiKey bool
		token  bool
	}{
		{name: "api request, service account"},
		{name: "api request, api key", apiKey: true},
		{name: "token request", token: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var reached atomic.Int32
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				reached.Add(1)
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(other.Close)

			h := newFaultHarness(t, options{faults: true, apiKey: tt.apiKey})
			h.addFlex(projectA, "c1", 7)
			redirect := func(r *http.Request, _ int) *atlassim.Fault {
				return &atlassim.Fault{Status: http.StatusTemporaryRedirect,
					Header: http.Header{"Location": {other.URL + r.URL.RequestURI()}}, Body: []byte{}}
			}
			if tt.token {
				h.sim.InterceptToken(redirect)
			} else {
				h.sim.Intercept(func(r *http.Request, n int) *atlassim.Fault {
					if isListing(r) {
						return redirect(r, n)
					}

					return nil
				})
			}

			res := h.run(target(projectA, "c1"))

			require.Equal(t, 1, res.Failed())
			require.Zero(t, reached.Load(), "the other host was reached")
			require.Contains(t, res.Targets[0].Err.Error(), "redirect")
			require.Zero(t, res.Totals.Retries, "a refused redirect is not retried")
			require.Zero(t, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))
		})
	}
}

// Odd listings: an empty page in the middle (once, or on every listing), a
// page with more results than asked for, the same id three times. None may
// cause a false removal or an extra version.
func TestOddListings(t *testing.T) {
	t.Parallel()

	const pageSize = 5
	emptyPage2 := func(r *http.Request, _ []map[string]any) []map[string]any {
		if pageNum(r) == 2 {
			return []map[string]any{}
		}

		return nil
	}

	tests := []struct {
		name      string
		snapshots int
		always    bool
		page      func(r *http.Request, snaps []map[string]any) []map[string]any // nil: the normal page
		fails     string
	}{
		{name: "empty page in the middle once, few missing", snapshots: 12, page: emptyPage2},
		{name: "empty page in the middle every time, few missing", snapshots: 12, always: true, page: emptyPage2},
		{name: "empty page in the middle once, many missing", snapshots: 40, page: emptyPage2},
		{name: "empty page in the middle every time, many missing", snapshots: 40, always: true, page: emptyPage2,
			fails: "snapshot listing incomplete"},
		{name: "more results than asked for", snapshots: 12, always: true, page: func(r *http.Request, snaps []map[string]any) []map[string]any {
			if pageNum(r) == 1 {
				return snaps[:pageSize+3]
			}

			return nil
		}},
		{name: "the same id three times", snapshots: 12, always: true, page: func(r *http.Request, snaps []map[string]any) []map[string]any {
			if pageNum(r) == 1 {
				return []map[string]any{snaps[0], snaps[0], snaps[1], snaps[0], snaps[2]}
			}

			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newFaultHarness(t, options{faults: true, pageSize: pageSize})
			ids := h.addFlex(projectA, "c1", tt.snapshots)
			h.run(target(projectA, "c1"))
			before := h.rowStamps()

			h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[1], t0.Add(-time.Hour), "FAILED"))
			var listings atomic.Int32
			h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
				if !isListing(r) {
					return nil
				}

				if pageNum(r) == 1 && listings.Add(1) > 1 && !tt.always {
					h.sim.Intercept(nil)
					return nil
				}

				results := tt.page(r, h.sim.Snapshots(projectA, "c1"))
				if results == nil {
					return nil
				}

				return &atlassim.Fault{Status: http.StatusOK, Body: listingBody(t, results),
					Header: http.Header{"Content-Type": {atlassim.MediaTypeFlex}}}
			})

			res := h.run(target(projectA, "c1"))

			require.Zero(t, h.count(`SELECT count(*) FROM atlas_backup.snapshots WHERE removed_at IS NOT NULL`), "false removals")
			if tt.fails != "" {
				require.Equal(t, 1, res.Failed())
				require.Contains(t, res.Targets[0].Err.Error(), tt.fails)
				require.Equal(t, before, h.rowStamps(), "nothing of the failed target written")
			} else {
				require.Zero(t, res.Failed(), "%v", res.Targets)
				require.Equal(t, 1, res.Totals.Updated)
				require.Equal(t, tt.snapshots+1, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions`), "one version per snapshot and one update")
				h.requireMirror(projectA, "c1")
			}

			h.sim.Intercept(nil)
			h.run(target(projectA, "c1"))
			h.requireMirror(projectA, "c1")
		})
	}
}

// Snapshot shapes the decoder must keep exactly: unknown extra fields,
// optional fields missing, fractional seconds and UTC offsets, sizes above
// 2^53. The normalised columns are right, raw keeps every digit, and a
// rerun writes nothing.
func TestSnapshotShapesStoredExactly(t *testing.T) {
	t.Parallel()

	h := newFaultHarness(t, options{})
	h.sim.AddInstance(projectA, "f1", atlas.Flex)
	h.sim.AddInstance(projectA, "s1", atlas.Serverless)

	extra, bare, offset := h.id(t0), h.id(t0.Add(-time.Hour)), h.id(t0.Add(-2*time.Hour))
	h.sim.PutSnapshot(projectA, "f1", map[string]any{
		"id": extra, "scheduledTime": "2026-11-01T00:00:00Z", "status": "COMPLETED",
		"futureField": map[string]any{"nested": []any{json.Number("1"), "two", nil}}, "anotherOne": true,
	})
	h.sim.PutSnapshot(projectA, "f1", map[string]any{"id": bare})
	h.sim.PutSnapshot(projectA, "f1", map[string]any{
		"id": offset, "status": "COMPLETED",
		"scheduledTime": "2026-10-31T23:00:00.123456+01:00",
		"startTime":     "2026-10-31T22:00:30.5Z",
		"finishTime":    "2026-10-31T17:05:00-05:00",
	})

	big, huge := h.id(t0), h.id(t0.Add(-time.Hour))
	h.sim.PutSnapshot(projectA, "s1", map[string]any{
		"id": big, "createdAt": "2026-11-01T00:00:00Z", "status": "completed",
		"storageSizeBytes": json.Number("9007199254740993"),
	})
	h.sim.PutSnapshot(projectA, "s1", map[string]any{
		"id": huge, "createdAt": "2026-10-31T23:00:00Z", "storageSizeBytes": json.Number("9223372036854775807"),
	})

	targets := []atlas.Target{target(projectA, "f1"), target(projectA, "s1")}
	res := h.run(targets...)
	require.Zero(t, res.Failed(), "%v", res.Targets)
	h.requireMirror(projectA, "f1")
	h.requireMirror(projectA, "s1")

	var started, finished time.Time
	require.NoError(t, h.pool.QueryRow(t.Context(),
		`SELECT taken_at, finished_at FROM atlas_backup.snapshots WHERE id = $1`, offset).Scan(&started, &finished))
	require.True(t, time.Date(2026, 10, 31, 22, 0, 30, 500_000_000, time.UTC).Equal(started), "startTime %v", started)
	require.True(t, time.Date(2026, 10, 31, 22, 5, 0, 0, time.UTC).Equal(finished), "finishTime %v", finished)

	var missing *time.Time
	require.NoError(t, h.pool.QueryRow(t.Context(),
		`SELECT taken_at FROM atlas_backup.snapshots WHERE id = $1`, bare).Scan(&missing))
	require.Nil(t, missing, "a snapshot without times has none")

	for id, digits := range map[string]string{big: "9007199254740993", huge: "9223372036854775807"} {
		var column, raw string
		require.NoError(t, h.pool.QueryRow(t.Context(),
			`SELECT storage_size_bytes::text, raw->>'storageSizeBytes' FROM atlas_backup.snapshots WHERE id = $1`, id).Scan(&column, &raw))
		require.Equal(t, digits, column)
		require.Equal(t, digits, raw)
	}

	before := h.rowStamps()
	res = h.run(targets...)
	require.Zero(t, res.Failed())
	require.Equal(t, before, h.rowStamps(), "a rerun over the same shapes writes nothing")
}

// Fifty targets of one project behind a small Atlas rate bucket: the client's
// own limiter paces the requests, so Atlas's 429s stay few, the request count
// stays at the minimum (discovery and one page per instance) plus those
// 429s, and the run completes.
func TestManyTargetsShareATinyRateBucket(t *testing.T) {
	t.Parallel()

	h := newFaultHarness(t, options{pageSize: 100, concurrency: 8, maxRetries: 5,
		sim: func(c *atlassim.Config) {
			c.RateLimit = &atlassim.RateLimit{Capacity: 10, RefillPerMinute: 3000}
		},
		fetch: func(c *fetch.Config) {
			c.RateLimit, c.RateBurst = 2400, 5
		},
	})
	const instances = 50
	for i := range instances {
		h.addFlex(projectA, "c"+string(rune('a'+i/26))+string(rune('a'+i%26)), 2)
	}

	res := h.run(atlas.Target{ProjectID: projectA})

	require.Zero(t, res.Failed(), "%v", res.Targets)
	require.Len(t, res.Targets, instances)
	require.Equal(t, 2*instances, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))

	limited := 0
	for _, r := range h.sim.Requests() {
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	minimum := 2 + instances // flex and serverless discovery, one page each
	require.LessOrEqual(t, limited, 2, "Atlas's 429s")
	require.Equal(t, minimum+limited, apiRequests(h))
	require.Equal(t, limited, res.Totals.Retries)
	t.Logf("requests %d (minimum %d), 429s %d, duration %s", apiRequests(h), minimum, limited, res.Duration)
}
