package fetch

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// fakeProject serves one project's Flex and Serverless instance listings.
// A listing set to nil answers with retired (the status and code to send).
type fakeProject struct {
	flex       *pagedHandler
	serverless *pagedHandler
	retired    func(w http.ResponseWriter)

	mu    sync.Mutex
	paths []string
}

func (p *fakeProject) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()

	prefix := "/api/atlas/v2/groups/" + testProject
	switch r.URL.Path {
	case prefix + "/flexClusters":
		p.flex.ServeHTTP(w, r)
	case prefix + "/serverless":
		if p.retired != nil {
			p.retired(w)
			return
		}
		p.serverless.ServeHTTP(w, r)
	default:
		writeAtlasError(w, http.StatusNotFound, "GROUP_NOT_FOUND", r.URL.Path)
	}
}

func (p *fakeProject) requested() []string {
	p.mu.Lock()
	defer p.mu.Unlock()

	out := make([]string, 0, len(p.paths))
	for _, path := range p.paths {
		out = append(out, path[strings.LastIndex(path, "/")+1:])
	}

	return out
}

// newFakeProject lists the given Flex and Serverless names.
func newFakeProject(t *testing.T, flex, serverless []string) *fakeProject {
	t.Helper()

	p := &fakeProject{
		flex:       &pagedHandler{accept: "application/vnd.atlas.2024-11-13+json"},
		serverless: &pagedHandler{accept: "application/vnd.atlas.2023-01-01+json"},
	}
	for _, name := range flex {
		p.flex.items = append(p.flex.items, map[string]any{
			"name": name, "stateName": "IDLE", "mongoDBVersion": "8.0.4",
			"backupSettings": map[string]any{"enabled": true}, "providerSettings": map[string]any{},
		})
	}

	for _, name := range serverless {
		p.serverless.items = append(p.serverless.items, map[string]any{
			"name": name, "stateName": "IDLE", "mongoDBVersion": "7.0.14",
			"serverlessBackupOptions": map[string]any{"serverlessContinuousBackupEnabled": false},
			"providerSettings":        map[string]any{"backingProviderName": "AWS", "regionName": "US_EAST_1"},
		})
	}

	return p
}

// names renders instances as family:name.
func names(insts []atlas.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, inst := range insts {
		out = append(out, string(inst.Family)+":"+inst.Name)
	}

	return out
}

// retiredAs answers every Serverless listing with status and code.
func retiredAs(status int, code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		writeAtlasError(w, status, code, "serverless is gone")
	}
}

func TestDiscover(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		flex       []string
		serverless []string
		retired    func(w http.ResponseWriter)
		want       []string
		wantErr    string
		requests   int
	}{
		{
			name: "both families, migrated name kept as flex",
			flex: []string{"a", "b", "c"}, serverless: []string{"b", "d"},
			want: []string{"flex:a", "flex:b", "flex:c", "serverless:d"}, requests: 4,
		},
		{
			name: "serverless retired with 410",
			flex: []string{"a"}, retired: retiredAs(http.StatusGone, "VERSION_GONE"),
			want: []string{"flex:a"}, requests: 2,
		},
		{
			name: "serverless version refused with 406",
			flex: []string{"a"}, retired: retiredAs(http.StatusNotAcceptable, "INVALID_VERSION_DATE"),
			want: []string{"flex:a"}, requests: 2,
		},
		{
			name: "serverless endpoint not routed",
			flex: []string{"a"}, retired: retiredAs(http.StatusNotFound, "RESOURCE_NOT_FOUND"),
			want: []string{"flex:a"}, requests: 2,
		},
		{
			name:    "serverless failing is an error",
			flex:    []string{"a"},
			retired: retiredAs(http.StatusForbidden, "USER_UNAUTHORIZED"),
			wantErr: "list serverless instances page 1: GET /api/atlas/v2/groups/" + testProject + "/serverless: status 403 USER_UNAUTHORIZED",
		},
		{
			name: "empty project",
			want: []string{}, requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := newFakeProject(t, tt.flex, tt.serverless)
			p.retired = tt.retired
			c, _ := newTestClient(t, p, func(cfg *Config) { cfg.PageSize = 2 })

			insts, stats, err := c.Discover(t.Context(), testProject)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}

			require.NoError(t, err)
			require.Equal(t, tt.want, names(insts))
			require.Equal(t, tt.requests, stats.Requests)
		})
	}
}

func TestDiscoverAttributes(t *testing.T) {
	t.Parallel()

	p := newFakeProject(t, []string{"f"}, []string{"s"})
	c, _ := newTestClient(t, p, nil)

	insts, _, err := c.Discover(t.Context(), testProject)
	require.NoError(t, err)
	require.Len(t, insts, 2)

	f, s := insts[0], insts[1]
	require.Equal(t, testProject, f.ProjectID)
	require.Equal(t, "IDLE", f.State)
	require.Equal(t, "8.0.4", f.MongoDBVersion)
	require.True(t, *f.BackupEnabled)
	require.Contains(t, string(f.Raw), `"providerSettings"`)
	require.Equal(t, "7.0.14", s.MongoDBVersion)
	require.False(t, *s.BackupEnabled)
}

func TestResolve(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		target    atlas.Target
		flex      []string
		sls       []string
		retired   func(w http.ResponseWriter)
		want      []string
		wantCode  string
		wantRetry bool
		requested []string
	}{
		{
			name:   "project target discovers",
			target: atlas.Target{ProjectID: testProject},
			flex:   []string{"a"}, sls: []string{"b"},
			want:      []string{"flex:a", "serverless:b"},
			requested: []string{"flexClusters", "serverless"},
		},
		{
			name:   "project target pinned to flex",
			target: atlas.Target{ProjectID: testProject, Family: atlas.Flex},
			flex:   []string{"a"}, sls: []string{"b"},
			want:      []string{"flex:a"},
			requested: []string{"flexClusters"},
		},
		{
			name:   "project target pinned to retired serverless",
			target: atlas.Target{ProjectID: testProject, Family: atlas.Serverless},
			flex:   []string{"a"}, retired: retiredAs(http.StatusGone, "VERSION_GONE"),
			wantCode:  "VERSION_GONE",
			wantRetry: true,
			requested: []string{"serverless"},
		},
		{
			name:   "unpinned name found in flex asks flex only",
			target: atlas.Target{ProjectID: testProject, Name: "a"},
			flex:   []string{"a"}, sls: []string{"a"},
			want:      []string{"flex:a"},
			requested: []string{"flexClusters"},
		},
		{
			name:   "unpinned name only in serverless",
			target: atlas.Target{ProjectID: testProject, Name: "b"},
			flex:   []string{"a"}, sls: []string{"b"},
			want:      []string{"serverless:b"},
			requested: []string{"flexClusters", "serverless"},
		},
		{
			name:   "unpinned name nowhere",
			target: atlas.Target{ProjectID: testProject, Name: "z"},
			flex:   []string{"a"}, sls: []string{"b"},
			wantCode:  CodeFlexClusterNotFound,
			requested: []string{"flexClusters", "serverless"},
		},
		{
			name:   "unpinned name nowhere and serverless retired",
			target: atlas.Target{ProjectID: testProject, Name: "z"},
			flex:   []string{"a"}, retired: retiredAs(http.StatusGone, "VERSION_GONE"),
			wantCode:  CodeFlexClusterNotFound,
			requested: []string{"flexClusters", "serverless"},
		},
		{
			name:   "pinned flex not found",
			target: atlas.Target{ProjectID: testProject, Name: "b", Family: atlas.Flex},
			flex:   []string{"a"}, sls: []string{"b"},
			wantCode:  CodeFlexClusterNotFound,
			requested: []string{"flexClusters"},
		},
		{
			name:   "pinned serverless found",
			target: atlas.Target{ProjectID: testProject, Name: "a", Family: atlas.Serverless},
			flex:   []string{"a"}, sls: []string{"a"},
			want:      []string{"serverless:a"},
			requested: []string{"serverless"},
		},
		{
			name:      "pinned serverless not found",
			target:    atlas.Target{ProjectID: testProject, Name: "x", Family: atlas.Serverless},
			sls:       []string{"a"},
			wantCode:  CodeServerlessNotFound,
			requested: []string{"serverless"},
		},
		{
			name:      "pinned serverless retired",
			target:    atlas.Target{ProjectID: testProject, Name: "x", Family: atlas.Serverless},
			retired:   retiredAs(http.StatusGone, "VERSION_GONE"),
			wantCode:  "VERSION_GONE",
			wantRetry: true,
			requested: []string{"serverless"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := newFakeProject(t, tt.flex, tt.sls)
			p.retired = tt.retired
			c, _ := newTestClient(t, p, nil)

			insts, stats, err := c.Resolve(t.Context(), tt.target)
			require.Equal(t, tt.requested, p.requested())
			require.Equal(t, len(tt.requested), stats.Requests)

			if tt.wantCode != "" {
				require.Equal(t, tt.wantCode, ErrorCodeOf(err), "err: %v", err)
				require.Equal(t, tt.wantRetry, IsRetired(err))
				require.ErrorContains(t, err, "resolve "+tt.target.String())

				return
			}

			require.NoError(t, err)
			require.Equal(t, tt.want, names(insts))
		})
	}
}

func TestResolveNotFoundIsAnAPIError(t *testing.T) {
	t.Parallel()

	p := newFakeProject(t, []string{"a"}, nil)
	c, _ := newTestClient(t, p, nil)

	_, _, err := c.Resolve(t.Context(), atlas.Target{ProjectID: testProject, Name: "gone", Family: atlas.Flex})

	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusNotFound, apiErr.Status)
	require.True(t, IsNotFound(err))
	require.False(t, IsRetired(err))
	require.Equal(t, "resolve flex:"+testProject+"/gone: GET /api/atlas/v2/groups/"+testProject+
		"/flexClusters: status 404 FLEX_CLUSTER_NOT_FOUND: no flex cluster named gone in project "+testProject, err.Error())
}
