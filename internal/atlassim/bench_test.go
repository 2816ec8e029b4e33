package atlassim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// benchSim is one project with one Flex cluster holding n snapshots; it
// returns the project id and the cluster list path.
func benchSim(b *testing.B, n int) (*atlassim.Server, string, string) {
	b.Helper()

	sim := atlassim.New(atlassim.Config{NoAuth: true, NoRequestLog: true})
	tg := sim.Populate(atlassim.Shape{Projects: 1, FlexPerProject: 1, SnapshotsPerInstance: n, Seed: 1, Now: t0})

	return sim, tg[0].ProjectID, "/api/atlas/v2/groups/" + tg[0].ProjectID + "/flexClusters"
}

func benchGet(b *testing.B, h http.Handler, url string) {
	b.Helper()

	req := httptest.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", atlassim.MediaTypeFlex)

	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkListPageCached serves a full 500-item page from the page cache.
func BenchmarkListPageCached(b *testing.B) {
	sim, _, list := benchSim(b, 2000)
	benchGet(b, sim, list+"/"+instanceName(b, sim, list)+"/backup/snapshots?itemsPerPage=500&pageNum=2")
}

// BenchmarkListPageChanging rebuilds the page every time because the
// listing changes between requests.
func BenchmarkListPageChanging(b *testing.B) {
	sim, projectID, list := benchSim(b, 2000)
	name := instanceName(b, sim, list)
	snap := sim.Snapshots(projectID, name)[0]
	sim.OnPage(func(string, string, int) { sim.PutSnapshot(projectID, name, snap) })

	benchGet(b, sim, list+"/"+name+"/backup/snapshots?itemsPerPage=500&pageNum=2")
}

// instanceName asks the simulator for the cluster's name, as a client would.
func instanceName(b *testing.B, sim *atlassim.Server, list string) string {
	b.Helper()

	req := httptest.NewRequest(http.MethodGet, list, nil)
	req.Header.Set("Accept", atlassim.MediaTypeFlex)
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)

	var page struct {
		Results []struct{ Name string } `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || len(page.Results) != 1 {
		b.Fatalf("list clusters: %v %s", err, rec.Body)
	}

	return page.Results[0].Name
}

// BenchmarkPopulate measures building demo-sized synthetic data.
func BenchmarkPopulate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sim := atlassim.New(atlassim.Config{NoAuth: true})
		sim.Populate(atlassim.Shape{Projects: 5, FlexPerProject: 2, ServerlessPerProject: 2, SnapshotsPerInstance: 500, Seed: 1, Now: t0})
	}
}
