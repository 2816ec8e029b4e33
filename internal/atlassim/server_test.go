package atlassim_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

func TestEndpoints(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, slsIDs := seed(sim, 3)
	srv := start(t, sim)
	groups := srv.URL + "/api/atlas/v2/groups"

	tests := []struct {
		name    string
		url     string
		accept  string
		results int // -1 for a single object
		id      string
	}{
		{name: "projects", url: groups, accept: atlassim.MediaTypeProjects, results: 1},
		{name: "flex clusters", url: groups + "/" + projectA + "/flexClusters", accept: atlassim.MediaTypeFlex, results: 1},
		{name: "serverless instances", url: groups + "/" + projectA + "/serverless", accept: atlassim.MediaTypeServerless, results: 1},
		{name: "flex snapshots", url: flexSnaps(srv.URL), accept: atlassim.MediaTypeFlex, results: 3},
		{name: "serverless snapshots", url: slsSnaps(srv.URL), accept: atlassim.MediaTypeServerless, results: 3},
		{name: "one flex snapshot", url: flexSnaps(srv.URL) + "/" + flexIDs[1], accept: atlassim.MediaTypeFlex, results: -1, id: flexIDs[1]},
		{name: "one serverless snapshot", url: slsSnaps(srv.URL) + "/" + slsIDs[2], accept: atlassim.MediaTypeServerless, results: -1, id: slsIDs[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			a := get(t, srv.Client(), tt.url, tt.accept)
			require.Equal(t, http.StatusOK, a.status, string(a.body))
			require.Equal(t, tt.accept, a.header.Get("Content-Type"))

			m := a.json(t)
			if tt.results < 0 {
				require.Equal(t, tt.id, m["id"])
				return
			}

			require.Len(t, m["results"], tt.results)
			require.EqualValues(t, tt.results, m["totalCount"])
		})
	}
}

func TestSnapshotShapes(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, slsIDs := seed(sim, 1)
	srv := start(t, sim)

	flex := get(t, srv.Client(), flexSnaps(srv.URL)+"/"+flexIDs[0], atlassim.MediaTypeFlex).json(t)
	for _, k := range []string{"id", "scheduledTime", "startTime", "finishTime", "expiration", "status", "mongoDBVersion", "links"} {
		require.Contains(t, flex, k)
	}

	self := flex["links"].([]any)[0].(map[string]any)["href"]
	require.Equal(t, "https://cloud.mongodb.com/api/atlas/v2/groups/"+projectA+"/flexClusters/alpha/backup/snapshots/"+flexIDs[0], self)

	sls := get(t, srv.Client(), slsSnaps(srv.URL)+"/"+slsIDs[0], atlassim.MediaTypeServerless).json(t)
	for _, k := range []string{"id", "createdAt", "expiresAt", "frequencyType", "snapshotType", "status", "storageSizeBytes", "mongodVersion", "serverlessInstanceName", "links"} {
		require.Contains(t, sls, k)
	}

	require.Equal(t, "beta", sls["serverlessInstanceName"])
	require.Equal(t, "2026-03-01T12:00:00Z", sls["createdAt"])
}

func TestNotFound(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, _ := seed(sim, 1)
	srv := start(t, sim, contract.ResponsesOnly())
	groups := srv.URL + "/api/atlas/v2/groups/"

	tests := []struct {
		name   string
		url    string
		accept string
		status int
		code   string
	}{
		{name: "unknown project flex", url: groups + projectB + "/flexClusters", accept: atlassim.MediaTypeFlex, status: 404, code: atlassim.CodeGroupNotFound},
		{name: "unknown project serverless", url: groups + projectB + "/serverless/beta/backup/snapshots", accept: atlassim.MediaTypeServerless, status: 404, code: atlassim.CodeGroupNotFound},
		{name: "malformed project", url: groups + "not-a-group/flexClusters", accept: atlassim.MediaTypeFlex, status: 400, code: atlassim.CodeInvalidGroupID},
		{name: "unknown flex cluster", url: groups + projectA + "/flexClusters/nope/backup/snapshots", accept: atlassim.MediaTypeFlex, status: 404, code: atlassim.CodeFlexClusterNotFound},
		{name: "serverless name on flex", url: groups + projectA + "/flexClusters/beta/backup/snapshots", accept: atlassim.MediaTypeFlex, status: 404, code: atlassim.CodeFlexClusterNotFound},
		{name: "unknown serverless instance", url: groups + projectA + "/serverless/nope/backup/snapshots", accept: atlassim.MediaTypeServerless, status: 404, code: atlassim.CodeServerlessInstanceNotFound},
		{name: "unknown snapshot", url: flexSnaps(srv.URL) + "/" + flexIDs[0][:23] + "f", accept: atlassim.MediaTypeFlex, status: 404, code: atlassim.CodeSnapshotNotFound},
		{name: "malformed snapshot id", url: flexSnaps(srv.URL) + "/XYZ", accept: atlassim.MediaTypeFlex, status: 400, code: atlassim.CodeInvalidAttribute},
		{name: "unknown path", url: groups + projectA + "/clusters", accept: atlassim.MediaTypeFlex, status: 404, code: atlassim.CodeResourceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			requireAPIError(t, get(t, srv.Client(), tt.url, tt.accept), tt.status, tt.code)
		})
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	seed(sim, 2)
	srv := start(t, sim, contract.ResponsesOnly())

	tests := []struct {
		name   string
		url    string
		accept string
	}{
		{name: "flex without accept", url: flexSnaps(srv.URL)},
		{name: "flex with serverless version", url: flexSnaps(srv.URL), accept: atlassim.MediaTypeServerless},
		{name: "serverless with flex version", url: slsSnaps(srv.URL), accept: atlassim.MediaTypeFlex},
		{name: "flex with plain json", url: flexSnaps(srv.URL), accept: "application/json"},
		{name: "projects with a newer version", url: srv.URL + "/api/atlas/v2/groups", accept: "application/vnd.atlas.2025-03-12+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			requireAPIError(t, get(t, srv.Client(), tt.url, tt.accept), http.StatusNotAcceptable, atlassim.CodeInvalidVersion)
		})
	}

	t.Run("accept list with parameters", func(t *testing.T) {
		t.Parallel()

		a := get(t, srv.Client(), flexSnaps(srv.URL), "application/json, "+atlassim.MediaTypeFlex+";charset=utf-8")
		require.Equal(t, http.StatusOK, a.status)
	})
}

func TestRetire(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	_, slsIDs := seed(sim, 2)
	sim.Retire(atlas.Serverless)
	srv := start(t, sim)
	groups := srv.URL + "/api/atlas/v2/groups/" + projectA

	for _, url := range []string{groups + "/serverless", slsSnaps(srv.URL), slsSnaps(srv.URL) + "/" + slsIDs[0]} {
		requireAPIError(t, get(t, srv.Client(), url, atlassim.MediaTypeServerless), http.StatusGone, atlassim.CodeVersionGone)
	}

	require.Equal(t, http.StatusOK, get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex).status)
	require.Equal(t, http.StatusOK, get(t, srv.Client(), groups+"/flexClusters", atlassim.MediaTypeFlex).status)
}

func TestDeprecationHeaders(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		off    bool
		url    func(base string) string
		sunset string
	}{
		{name: "serverless snapshots", url: slsSnaps, sunset: "Thu, 22 Jan 2026 00:00:00 GMT"},
		{name: "serverless instances", url: func(b string) string { return b + "/api/atlas/v2/groups/" + projectA + "/serverless" }, sunset: "Mon, 18 Jan 2027 00:00:00 GMT"},
		{name: "switched off", off: true, url: slsSnaps},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			sim := atlassim.New(atlassim.Config{NoAuth: true, NoDeprecationHeaders: tt.off})
			seed(sim, 1)
			srv := start(t, sim)

			a := get(t, srv.Client(), tt.url(srv.URL), atlassim.MediaTypeServerless)
			require.Equal(t, http.StatusOK, a.status)
			require.Equal(t, tt.sunset, a.header.Get("Sunset"))
			require.Equal(t, !tt.off, a.header.Get("Deprecation") != "")
		})
	}

	t.Run("not on flex", func(t *testing.T) {
		t.Parallel()

		sim := openSim(newClock())
		seed(sim, 1)
		srv := start(t, sim)

		a := get(t, srv.Client(), flexSnaps(srv.URL), atlassim.MediaTypeFlex)
		require.Empty(t, a.header.Get("Sunset"))
		require.Empty(t, a.header.Get("Deprecation"))
	})
}

func TestEmptyServerlessList(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	seed(sim, 2)
	sim.EmptyServerlessList(true)
	srv := start(t, sim)

	list := get(t, srv.Client(), srv.URL+"/api/atlas/v2/groups/"+projectA+"/serverless", atlassim.MediaTypeServerless).json(t)
	require.Empty(t, list["results"])

	snaps := get(t, srv.Client(), slsSnaps(srv.URL), atlassim.MediaTypeServerless).json(t)
	require.Len(t, snaps["results"], 2)
}

func TestSameNameInBothFamilies(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	sim.AddProject(projectA, "project-a")
	sim.AddInstance(projectA, "moved", atlas.Serverless)
	sim.AddInstance(projectA, "moved", atlas.Flex)
	sim.PutSnapshot(projectA, "serverless:moved", atlassim.ServerlessSnapshot(atlassim.SnapshotID(t0, 1), t0, "completed", 10))
	sim.PutSnapshot(projectA, "moved", atlassim.FlexSnapshot(atlassim.SnapshotID(t0, 2), t0, "COMPLETED"))
	sim.PutSnapshot(projectA, "flex:moved", atlassim.FlexSnapshot(atlassim.SnapshotID(t0, 3), t0, "COMPLETED"))

	require.Len(t, sim.Snapshots(projectA, "serverless:moved"), 1)
	require.Len(t, sim.Snapshots(projectA, "moved"), 2)

	srv := start(t, sim)
	base := srv.URL + "/api/atlas/v2/groups/" + projectA
	flex := get(t, srv.Client(), base+"/flexClusters/moved/backup/snapshots", atlassim.MediaTypeFlex).json(t)
	require.Len(t, flex["results"], 2)

	sls := get(t, srv.Client(), base+"/serverless/moved/backup/snapshots", atlassim.MediaTypeServerless).json(t)
	require.Len(t, sls["results"], 1)
}

func TestInstanceAttributes(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	sim.AddProject(projectA, "project-a")
	sim.PutInstance(projectA, atlassim.Instance{Name: "f1", Family: atlas.Flex, State: "UPDATING", MongoDBVersion: "8.0.4"})
	sim.AddInstance(projectA, "s1", atlas.Serverless)
	srv := start(t, sim)
	base := srv.URL + "/api/atlas/v2/groups/" + projectA

	flex := get(t, srv.Client(), base+"/flexClusters", atlassim.MediaTypeFlex).json(t)
	f := flex["results"].([]any)[0].(map[string]any)
	require.Equal(t, "UPDATING", f["stateName"])
	require.Equal(t, "8.0.4", f["mongoDBVersion"])
	require.Equal(t, false, f["backupSettings"].(map[string]any)["enabled"])
	require.Equal(t, projectA, f["groupId"])

	sls := get(t, srv.Client(), base+"/serverless", atlassim.MediaTypeServerless).json(t)
	s := sls["results"].([]any)[0].(map[string]any)
	require.Equal(t, "IDLE", s["stateName"])
	require.Equal(t, true, s["serverlessBackupOptions"].(map[string]any)["serverlessContinuousBackupEnabled"])

	sim.RemoveInstance(projectA, "f1")
	flex = get(t, srv.Client(), base+"/flexClusters", atlassim.MediaTypeFlex).json(t)
	require.Empty(t, flex["results"])

	projects := get(t, srv.Client(), srv.URL+"/api/atlas/v2/groups", atlassim.MediaTypeProjects).json(t)
	require.EqualValues(t, 1, projects["results"].([]any)[0].(map[string]any)["clusterCount"])
}
