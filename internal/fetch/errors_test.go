package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

func TestAPIErrorFromBody(t *testing.T) {
	t.Parallel()

	path := "/api/atlas/v2/groups/" + testProject + "/flexClusters/x/backup/snapshots"
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		retired bool
	}{
		{
			name:   "atlas error",
			status: 404,
			body:   `{"error":404,"errorCode":"FLEX_CLUSTER_NOT_FOUND","detail":"No flex cluster named x.","reason":"Not Found","parameters":["x",3]}`,
			want:   "GET " + path + ": status 404 FLEX_CLUSTER_NOT_FOUND: No flex cluster named x.",
		},
		{
			name:   "atlas error without detail falls back to reason",
			status: 429,
			body:   `{"error":429,"errorCode":"RATE_LIMITED","reason":"Too Many Requests"}`,
			want:   "GET " + path + ": status 429 RATE_LIMITED: Too Many Requests",
		},
		{
			name:    "version gone says so",
			status:  410,
			body:    `{"error":410,"errorCode":"VERSION_GONE","detail":"gone"}`,
			want:    "GET " + path + ": status 410 VERSION_GONE (the API version was retired): gone",
			retired: true,
		},
		{
			name:    "unknown version",
			status:  406,
			body:    `{"error":406,"errorCode":"INVALID_VERSION_DATE","detail":"no such version"}`,
			want:    "GET " + path + ": status 406 INVALID_VERSION_DATE: no such version",
			retired: true,
		},
		{
			// A proxy's or a wrong base URL's 404 used to count as a retired
			// family, which dropped every Serverless instance from discovery.
			name:    "404 without an atlas body is not a retirement",
			status:  404,
			body:    `404 page not found`,
			want:    "GET " + path + ": status 404: 404 page not found",
			retired: false,
		},
		{
			name:   "long html is cut",
			status: 503,
			body:   "<html>" + strings.Repeat("x", 500) + "</html>",
			want:   "GET " + path + ": status 503: <html>" + strings.Repeat("x", 194) + "...",
		},
		{
			name:   "empty body",
			status: 500,
			want:   "GET " + path + ": status 500",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			err := fmt.Errorf("list: %w", newAPIError(http.MethodGet, path, tt.status, []byte(tt.body)))
			require.Equal(t, "list: "+tt.want, err.Error())
			require.Equal(t, tt.status, StatusOf(err))
			require.Equal(t, tt.retired, IsRetired(err))
		})
	}
}

func TestPredicatesOnOtherErrors(t *testing.T) {
	t.Parallel()

	err := errors.New("dial tcp: connection refused")
	require.Zero(t, StatusOf(err))
	require.Empty(t, ErrorCodeOf(err))
	require.False(t, IsNotFound(err))
	require.False(t, IsRetired(err))
	require.False(t, IsRateLimited(err))
}

func TestDeprecationWarnedOncePerEndpoint(t *testing.T) {
	t.Parallel()

	api := &pagedHandler{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/serverless/") {
			w.Header().Set("Deprecation", "@1700000000")
			w.Header().Set("Sunset", "Thu, 22 Jan 2026 00:00:00 GMT")
		}
		api.ServeHTTP(w, r)
	})
	c, logs := newTestClient(t, h, nil)

	sls := atlas.Instance{ProjectID: testProject, Name: "sls", Family: atlas.Serverless}
	for range 3 {
		_, _, err := collect(t.Context(), c, sls)
		require.NoError(t, err)

		_, _, err = collect(t.Context(), c, flexInstance("prod"))
		require.NoError(t, err)
	}

	require.Equal(t, 1, logs.count("atlas api version deprecated"))
	require.Contains(t, logs.String(), `"endpoint":"/api/atlas/v2/groups/{groupId}/serverless/{clusterName}/backup/snapshots"`)
	require.Contains(t, logs.String(), `"sunset":"Thu, 22 Jan 2026 00:00:00 GMT"`)
}
