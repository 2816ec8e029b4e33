package atlassim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim/contract"
)

// TestRawSnapshots checks that odd objects reach the client byte for byte:
// fields Atlas may add later, fields left out, and numbers past float64.
func TestRawSnapshots(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	seed(sim, 0)
	srv := start(t, sim, contract.RequestsOnly())

	id := atlassim.SnapshotID(t0, 7)
	snap := atlassim.ServerlessSnapshot(id, t0, "completed", 0)
	snap["storageSizeBytes"] = json.Number("123456789012345678901234567890")
	snap["futureField"] = map[string]any{"nested": []any{1, "two"}}
	delete(snap, "expiresAt")
	sim.PutSnapshot(projectA, "beta", snap)
	sim.PutSnapshot(projectA, "beta", map[string]any{"id": atlassim.SnapshotID(t0, 8)})

	a := get(t, srv.Client(), slsSnaps(srv.URL)+"/"+id, atlassim.MediaTypeServerless)
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, string(a.body), `"storageSizeBytes":123456789012345678901234567890`)
	require.Contains(t, string(a.body), `"futureField":{"nested":[1,"two"]}`)
	require.NotContains(t, string(a.body), "expiresAt")

	stored := sim.Snapshots(projectA, "beta")
	require.Len(t, stored, 2)
	require.Equal(t, id, stored[0]["id"], "a snapshot without a time lists last")
	require.Equal(t, json.Number("123456789012345678901234567890"), stored[0]["storageSizeBytes"])

	stored[0]["status"] = "changed by the caller"
	require.Equal(t, "completed", sim.Snapshots(projectA, "beta")[0]["status"])
}

func TestPutReplaceRemove(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	flexIDs, _ := seed(sim, 3)

	sim.PutSnapshot(projectA, "alpha", atlassim.FlexSnapshot(flexIDs[1], t0.Add(-time.Hour), "FAILED"))
	got := sim.Snapshots(projectA, "alpha")
	require.Len(t, got, 3)
	require.Equal(t, "FAILED", got[1]["status"])

	sim.RemoveSnapshot(projectA, "alpha", flexIDs[0])
	sim.RemoveSnapshot(projectA, "alpha", "000000000000000000000000")
	got = sim.Snapshots(projectA, "alpha")
	require.Len(t, got, 2)
	require.Equal(t, flexIDs[1], got[0]["id"])

	same := t0.Add(-10 * time.Hour)
	sim.PutSnapshot(projectA, "alpha", atlassim.FlexSnapshot("aaaaaaaaaaaaaaaaaaaaaaaa", same, "COMPLETED"))
	sim.PutSnapshot(projectA, "alpha", atlassim.FlexSnapshot("bbbbbbbbbbbbbbbbbbbbbbbb", same, "COMPLETED"))
	got = sim.Snapshots(projectA, "alpha")
	require.Equal(t, "bbbbbbbbbbbbbbbbbbbbbbbb", got[2]["id"], "equal times order by id, descending")
	require.Equal(t, "aaaaaaaaaaaaaaaaaaaaaaaa", got[3]["id"])
}

func TestMisusePanics(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	seed(sim, 0)

	tests := []struct {
		name string
		fn   func()
	}{
		{name: "unknown project", fn: func() { sim.PutSnapshot(projectB, "alpha", map[string]any{"id": "x"}) }},
		{name: "unknown instance", fn: func() { sim.PutSnapshot(projectA, "nope", map[string]any{"id": "x"}) }},
		{name: "no id", fn: func() { sim.PutSnapshot(projectA, "alpha", map[string]any{"status": "x"}) }},
		{name: "unknown family", fn: func() { sim.AddInstance(projectA, "x", atlas.Family("dedicated")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Panics(t, tt.fn)
		})
	}
}

func TestPopulate(t *testing.T) {
	t.Parallel()

	shape := atlassim.Shape{Projects: 2, FlexPerProject: 2, ServerlessPerProject: 2, SnapshotsPerInstance: 40, Seed: 7, Now: t0}
	sim := atlassim.New(atlassim.Config{NoAuth: true})
	targets := sim.Populate(shape)
	require.Len(t, targets, 2)

	again := atlassim.New(atlassim.Config{NoAuth: true})
	require.Equal(t, targets, again.Populate(shape), "the same seed gives the same data")

	srv := start(t, sim)
	statuses := map[string]int{}
	for _, tg := range targets {
		require.Regexp(t, `^[a-f0-9]{24}$`, tg.ProjectID)
		base := srv.URL + "/api/atlas/v2/groups/" + tg.ProjectID

		for _, fam := range []struct{ kind, accept string }{
			{"flexClusters", atlassim.MediaTypeFlex},
			{"serverless", atlassim.MediaTypeServerless},
		} {
			list := get(t, srv.Client(), base+"/"+fam.kind, fam.accept).json(t)
			require.Len(t, list["results"], 2)

			for _, inst := range list["results"].([]any) {
				name := inst.(map[string]any)["name"].(string)
				pages := walk(t, srv.Client(), base+"/"+fam.kind+"/"+name+"/backup/snapshots?itemsPerPage=15", fam.accept)
				require.Len(t, pages, 3)

				for _, snap := range again.Snapshots(tg.ProjectID, name) {
					statuses[snap["status"].(string)]++
				}
			}
		}
	}

	require.Positive(t, statuses["COMPLETED"])
	require.Positive(t, statuses["completed"])
	require.Positive(t, statuses["FAILED"]+statuses["failed"])
}

func TestPopulateGrowth(t *testing.T) {
	t.Parallel()

	sim := atlassim.New(atlassim.Config{NoAuth: true})
	tg := sim.Populate(atlassim.Shape{Projects: 1, ServerlessPerProject: 1, SnapshotsPerInstance: 200, Seed: 3, Now: t0})
	srv := start(t, sim)

	list := get(t, srv.Client(), srv.URL+"/api/atlas/v2/groups/"+tg[0].ProjectID+"/serverless", atlassim.MediaTypeServerless).json(t)
	name := list["results"].([]any)[0].(map[string]any)["name"].(string)

	var sizes []int64
	for _, s := range sim.Snapshots(tg[0].ProjectID, name) {
		if s["status"] == "completed" {
			n, err := s["storageSizeBytes"].(json.Number).Int64()
			require.NoError(t, err)
			sizes = append(sizes, n)
		}
	}

	require.Greater(t, sizes[0], sizes[len(sizes)-1], "the newest snapshot is bigger than the oldest")
}

// TestSpecCopy catches drift between the simulator's copy of the OpenAPI
// document and the shared one.
func TestSpecCopy(t *testing.T) {
	t.Parallel()

	shared, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "atlas-api", "openapi.yaml"))
	if os.IsNotExist(err) {
		t.Skip("no shared openapi.yaml beside the repository")
	}
	require.NoError(t, err)

	ours, err := os.ReadFile(contract.SpecPath())
	require.NoError(t, err)
	require.True(t, bytes.Equal(shared, ours), "testdata/openapi.yaml differs from ../shared/atlas-api/openapi.yaml")
}

// TestConcurrentUse runs readers, writers and hooks at once under the race
// detector.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()

	sim := atlassim.New(atlassim.Config{NoAuth: true, RateLimit: &atlassim.RateLimit{Capacity: 1 << 20, RefillPerMinute: 1}})
	seed(sim, 30)
	sim.OnPage(func(string, string, int) {})
	sim.Intercept(func(*http.Request, int) *atlassim.Fault { return nil })
	srv := start(t, sim)

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				id := atlassim.SnapshotID(t0.Add(time.Duration(i)*time.Minute), uint64(10000+w*100+i))
				sim.PutSnapshot(projectA, "alpha", atlassim.FlexSnapshot(id, t0, "COMPLETED"))
				sim.RemoveSnapshot(projectA, "alpha", id)
			}
		})
		wg.Go(func() {
			for i := range 25 {
				a := get(t, srv.Client(), fmt.Sprintf("%s?itemsPerPage=7&pageNum=%d", flexSnaps(srv.URL), i%6+1), atlassim.MediaTypeFlex)
				require.Equal(t, http.StatusOK, a.status)
				_ = sim.Requests()
			}
		})
	}
	wg.Wait()

	require.Equal(t, 30, len(sim.Snapshots(projectA, "alpha")))
}

func TestStart(t *testing.T) {
	t.Parallel()

	sim := openSim(newClock())
	seed(sim, 1)

	run, err := sim.Start("127.0.0.1:0")
	require.NoError(t, err)

	a := get(t, http.DefaultClient, flexSnaps(run.URL), atlassim.MediaTypeFlex)
	require.Equal(t, http.StatusOK, a.status)
	require.NoError(t, run.Close())
}
