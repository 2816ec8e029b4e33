package fetch

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// FuzzDecodeSnapshot feeds arbitrary bytes to the listing and snapshot
// decoders (seed corpus in testdata/fuzz/FuzzDecodeSnapshot). Whatever the
// input, they return an error or snapshots with an id, the exact bytes in
// Raw, the instance's identity and UTC times, a result of a page decoding
// alone as it did in the page; they never panic.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add([]byte(`{"id":"a1","status":"COMPLETED","scheduledTime":"2026-11-01T00:00:00Z"}`), false)
	f.Add([]byte(`{"id":"b2","createdAt":"2026-11-01T01:00:00.5+01:00","storageSizeBytes":9007199254740993}`), true)
	f.Add([]byte(`{"results":[{"id":"c3"},null,7]}`), false)

	f.Fuzz(func(t *testing.T, body []byte, serverless bool) {
		inst := atlas.Instance{ProjectID: "5f1a2b3c4d5e6f7a8b9c0d1e", Name: "c1", Family: atlas.Flex}
		if serverless {
			inst.Family = atlas.Serverless
		}

		if s, err := decodeSnapshotBody(inst, body); err == nil {
			checkDecoded(t, inst, bytes.TrimSpace(body), s)
		}

		page, err := decodeSnapshotPage(inst, body)
		if err != nil {
			return
		}

		for _, s := range page.items {
			if !bytes.Contains(body, s.Raw) {
				t.Fatalf("decoded %q into raw %q, which it does not hold", body, s.Raw)
			}

			alone, err := decodeSnapshotBody(inst, s.Raw)
			require.NoError(t, err, "result %q alone", s.Raw)
			require.Equal(t, s, alone, "result %q alone", s.Raw)
			checkDecoded(t, inst, s.Raw, s)
		}
	})
}

func checkDecoded(t *testing.T, inst atlas.Instance, raw []byte, s atlas.Snapshot) {
	t.Helper()

	if s.ID == "" || !bytes.Equal(s.Raw, raw) || !json.Valid(s.Raw) || s.Raw[0] != '{' {
		t.Fatalf("decoded %q into id %q, raw %q", raw, s.ID, s.Raw)
	}

	if s.ProjectID != inst.ProjectID || s.InstanceName != inst.Name || s.Family != inst.Family {
		t.Fatalf("decoded %q into the wrong instance %s/%s/%s", raw, s.ProjectID, s.InstanceName, s.Family)
	}

	for _, tm := range []*time.Time{s.TakenAt, s.FinishedAt, s.ExpiresAt, s.DownloadExpiresAt} {
		if tm != nil && tm.Location() != time.UTC {
			t.Fatalf("decoded %q into a time outside UTC: %v", raw, tm)
		}
	}
}

// FuzzInstanceName checks the one gate between a configured or discovered
// name and a request path: a name it accepts is short, and escaping it for
// a path changes nothing, so it can never add a segment, a query or a
// fragment.
func FuzzInstanceName(f *testing.F) {
	for _, seed := range []string{"prod-eu", "a/../b", "a%2Fb", "a?x=1", "a#b", "-a", strings.Repeat("a", 65), "é"} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}

		if len(name) > atlas.MaxNameLen || url.PathEscape(name) != name || strings.ContainsAny(name, "/%?#.\\ ") {
			t.Fatalf("name %q accepted", name)
		}
	})
}

// TestPathTricksNeverReachAURL: names, project ids and snapshot ids that
// would change a request path (separators, encoded slashes, query and
// fragment characters, dot segments, control characters, over-long names)
// are refused with ErrInvalidArgument before any request.
func TestPathTricksNeverReachAURL(t *testing.T) {
	t.Parallel()

	var requests atomic.Int32
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"results": []any{}})
	}), nil)
	ctx := t.Context()

	names := []string{
		"a/b", "a%2Fb", "a%2fb", "a%252Fb", "a?pageNum=2", "a#frag", "..", ".", "a/..", "a\\b",
		"a\x00b", "a\nb", "a b", "é", "a;b", "", strings.Repeat("a", 65),
	}
	for _, name := range names {
		inst := flexInstance(name)
		_, _, err := collect(ctx, c, inst)
		require.ErrorIs(t, err, ErrInvalidArgument, "list %q", name)
		_, _, err = c.GetSnapshot(ctx, inst, "0123456789abcdef01234567")
		require.ErrorIs(t, err, ErrInvalidArgument, "get in %q", name)
		if name == "" {
			continue // an empty name is a whole-project target
		}

		_, _, err = c.Resolve(ctx, atlas.Target{ProjectID: testProject, Name: name, Family: atlas.Flex})
		require.ErrorIs(t, err, ErrInvalidArgument, "resolve %q", name)
	}

	for _, project := range []string{testProject + "%2F", testProject[:23] + "/", "../" + testProject[3:], testProject + "?x", strings.ToUpper(testProject)} {
		_, _, err := c.Discover(ctx, project)
		require.ErrorIs(t, err, ErrInvalidArgument, "discover %q", project)
	}

	for _, id := range []string{"../x", "a%2Fb", "a?b", "a#b", strings.Repeat("a", 65)} {
		_, _, err := c.GetSnapshot(ctx, flexInstance("ok"), id)
		require.ErrorIs(t, err, ErrInvalidArgument, "snapshot id %q", id)
	}

	require.Zero(t, requests.Load(), "a request was sent")
}

// TestPlainHTTPCredentialsOnlyToLoopback: credentials go over plain http only
// to a loopback address; any other host needs https.
func TestPlainHTTPCredentialsOnlyToLoopback(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		baseURL string
		creds   bool
		ok      bool
	}{
		{"https to atlas", "https://cloud.mongodb.com", true, true},
		{"http to 127.0.0.1", "http://127.0.0.1:8080", true, true},
		{"http to localhost", "http://localhost:8080", true, true},
		{"http to ::1", "http://[::1]:8080", true, true},
		{"http to atlas", "http://cloud.mongodb.com", true, false},
		{"http to a private address", "http://10.0.0.5:8080", true, false},
		{"http to a loopback-looking name", "http://127.0.0.1.nip.io", true, false},
		{"http without credentials", "http://10.0.0.5:8080", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			for _, cfg := range []Config{{ClientID: "id", ClientSecret: "s3cr3t"}, {PublicKey: "pub", PrivateKey: "s3cr3t"}} {
				if !tt.creds {
					cfg = Config{}
				}
				cfg.BaseURL = tt.baseURL

				_, err := NewClient(cfg)
				if tt.ok {
					require.NoError(t, err)
					continue
				}

				require.ErrorContains(t, err, "https")
				require.NotContains(t, err.Error(), "s3cr3t")
			}
		})
	}
}
