package contract_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

const (
	flexType = "application/vnd.atlas.2024-11-13+json"
	group    = "5f1a0000000000000000000a"
	snapID   = "65e1c1a0000000000000000a"
	oneSnap  = "/api/atlas/v2/groups/" + group + "/flexClusters/alpha/backup/snapshots/" + snapID
	listPath = "/api/atlas/v2/groups/" + group + "/flexClusters/alpha/backup/snapshots"
)

// spy collects what Wrap reports instead of failing the test.
type spy struct {
	testing.TB

	mu   sync.Mutex
	errs []string
}

func (s *spy) Errorf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *spy) Helper() {}

func (s *spy) reports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()

	return append([]string(nil), s.errs...)
}

// fixed answers every request with the same status, content type and body.
func fixed(status int, ct, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func TestWrap(t *testing.T) {
	t.Parallel()

	goodSnap := `{"id":"` + snapID + `","status":"COMPLETED","scheduledTime":"2026-03-01T12:00:00Z"}`
	goodErr := `{"error":404,"errorCode":"SNAPSHOT_NOT_FOUND","detail":"x","reason":"Not Found","parameters":["a",1]}`

	tests := []struct {
		name    string
		path    string
		accept  string
		handler http.Handler
		opts    []contract.Option
		report  string // a fragment of the one expected report; empty for none
	}{
		{name: "good snapshot", path: oneSnap, accept: flexType, handler: fixed(200, flexType, goodSnap)},
		{name: "good listing", path: listPath + "?itemsPerPage=500&pageNum=2", accept: flexType, handler: fixed(200, flexType, `{"results":[],"totalCount":0}`)},
		{name: "error with string parameters", path: oneSnap, accept: flexType, handler: fixed(404, "application/json", goodErr)},
		{name: "undeclared 406 as ApiError", path: oneSnap, accept: flexType, handler: fixed(406, "application/json", `{"error":406,"errorCode":"X"}`)},
		{name: "oauth passes through", path: "/api/oauth/token", handler: fixed(200, "text/plain", "anything")},
		{name: "bad status enum", path: oneSnap, accept: flexType, handler: fixed(200, flexType, `{"id":"`+snapID+`","status":"DONE"}`), report: "status"},
		{name: "bad time", path: oneSnap, accept: flexType, handler: fixed(200, flexType, `{"id":"`+snapID+`","startTime":"yesterday"}`), report: "startTime"},
		{name: "wrong content type", path: oneSnap, accept: flexType, handler: fixed(200, "application/json", goodSnap), report: "Content-Type"},
		{name: "listing without results", path: listPath, accept: flexType, handler: fixed(200, flexType, `{"totalCount":1}`), report: "results"},
		{name: "undeclared 410 not an ApiError", path: oneSnap, accept: flexType, handler: fixed(410, "application/json", `{"message":"gone"}`), report: "ApiError"},
		{name: "error as text", path: oneSnap, accept: flexType, handler: fixed(406, "text/plain", "no"), report: "application/json"},
		{name: "missing accept", path: oneSnap, handler: fixed(200, flexType, goodSnap), report: "Accept"},
		{name: "missing accept allowed", path: oneSnap, handler: fixed(200, flexType, goodSnap), opts: []contract.Option{contract.ResponsesOnly()}},
		{name: "bad page size", path: listPath + "?itemsPerPage=501", accept: flexType, handler: fixed(200, flexType, `{"results":[]}`), report: "itemsPerPage"},
		{name: "bad group id", path: "/api/atlas/v2/groups/xyz/flexClusters", accept: flexType, handler: fixed(200, flexType, `{"results":[]}`), report: "groupId"},
		{name: "unknown path", path: "/api/atlas/v2/orgs", accept: flexType, handler: fixed(404, "application/json", goodErr), report: "no operation"},
		{name: "odd data allowed", path: oneSnap, accept: flexType, handler: fixed(200, flexType, `{"id":"`+snapID+`","status":"DONE"}`), opts: []contract.Option{contract.RequestsOnly()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			s := &spy{TB: t}
			srv := httptest.NewServer(contract.Wrap(s, tt.handler, tt.opts...))
			defer srv.Close()

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+tt.path, nil)
			require.NoError(t, err)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}

			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())

			got := s.reports()
			if tt.report == "" {
				require.Empty(t, got)
				return
			}

			require.Len(t, got, 1, strings.Join(got, "\n"))
			require.Contains(t, got[0], tt.report)
		})
	}
}

func TestDocumentLoads(t *testing.T) {
	t.Parallel()

	doc, _, err := contract.Document()
	require.NoError(t, err)
	require.Len(t, doc.Paths.Map(), 7)
}
