package export_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// isListing reports whether r asks for a snapshot listing (not discovery,
// not a single snapshot).
func isListing(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/backup/snapshots")
}

// apiRequests counts the API requests the simulator answered, leaving out
// the token endpoint.
func apiRequests(h *harness) int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Method == http.MethodGet {
			n++
		}
	}

	return n
}

func TestListingRequestsAreTheMinimum(t *testing.T) {
	t.Parallel()

	const pageSize = 5
	tests := []struct {
		name      string
		snapshots int
	}{
		{"empty", 0},
		{"one full page", pageSize},
		{"three full pages", 3 * pageSize},
		{"three pages and one", 3*pageSize + 1},
		{"one short page", pageSize - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newHarness(t, options{pageSize: pageSize})
			h.addFlex(projectA, "c1", tt.snapshots)

			res := h.run(atlas.Target{ProjectID: projectA, Name: "c1", Family: atlas.Flex})

			require.Zero(t, res.Failed())
			// ceil(n/p), and one request for an empty listing: Atlas's count
			// ends a listing on a full last page.
			listing := max(1, (tt.snapshots+pageSize-1)/pageSize)
			discovery := 1 // the pinned family's cluster list
			require.Equal(t, listing+discovery, res.Totals.Requests)
			require.Equal(t, listing+discovery, apiRequests(h), "requests the simulator saw")
			require.Equal(t, tt.snapshots, res.Totals.Created)
			require.Equal(t, tt.snapshots, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))
			require.Equal(t, tt.snapshots, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions`))
		})
	}
}

func TestBothAuthModesExport(t *testing.T) {
	t.Parallel()

	for _, apiKey := range []bool{false, true} {
		name := map[bool]string{false: "service account", true: "api key"}[apiKey]
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			h := newHarness(t, options{apiKey: apiKey, concurrency: 4})
			for _, n := range []string{"c1", "c2", "c3", "c4", "c5"} {
				h.addFlex(projectA, n, 12)
			}

			res := h.run(atlas.Target{ProjectID: projectA})

			require.Zero(t, res.Failed())
			require.Len(t, res.Targets, 5)
			require.Equal(t, 60, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))

			if apiKey {
				require.Zero(t, h.sim.TokenRequests())
				return
			}

			require.Equal(t, 1, h.sim.TokenRequests(), "one token serves the whole run")
		})
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		fault atlassim.Fault
	}{
		{"429 with Retry-After", atlassim.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}}},
		{"429 without Retry-After", atlassim.Fault{Status: http.StatusTooManyRequests}},
		{"503", atlassim.Fault{Status: http.StatusServiceUnavailable}},
		{"502 from a proxy, in HTML", atlassim.Fault{Status: http.StatusBadGateway, Body: []byte("<html><body>Bad Gateway</body></html>")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newHarness(t, options{faults: true})
			h.addFlex(projectA, "c1", 7)
			failed := false
			h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
				if isListing(r) && r.URL.Query().Get("pageNum") == "2" && !failed {
					failed = true
					f := tt.fault

					return &f
				}

				return nil
			})

			start := time.Now()
			res := h.run(target(projectA, "c1"))

			require.Zero(t, res.Failed())
			require.Equal(t, 1, res.Totals.Retries)
			require.Equal(t, 7, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))
			if tt.fault.Header.Get("Retry-After") != "" {
				require.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After honoured")
			}
		})
	}
}

func TestRetriesExhaustedFailOnlyThatTarget(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{faults: true, maxRetries: 2})
	broken := h.addFlex(projectA, "broken", 7)
	h.addFlex(projectA, "healthy", 3)
	h.run(atlas.Target{ProjectID: projectA})
	before := h.rowStamps()

	// Both change upstream; the broken one's listing then fails for good.
	h.sim.PutSnapshot(projectA, "broken", atlassim.FlexSnapshot(broken[0], t0, "FAILED"))
	newer := h.id(t0.Add(time.Hour))
	h.sim.PutSnapshot(projectA, "healthy", atlassim.FlexSnapshot(newer, t0.Add(time.Hour), "COMPLETED"))
	h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
		if strings.Contains(r.URL.Path, "/broken/") && r.URL.Query().Get("pageNum") == "2" {
			return &atlassim.Fault{Status: http.StatusServiceUnavailable}
		}

		return nil
	})

	res := h.run(atlas.Target{ProjectID: projectA})

	require.Equal(t, 1, res.Failed())
	require.Equal(t, db.StatusPartial, res.Status)
	require.Equal(t, "COMPLETED", h.snapshot(broken[0]).status, "the failed target kept its rows")
	require.Len(t, h.snapshot(broken[0]).versions, 1)
	require.Equal(t, "COMPLETED", h.snapshot(newer).status, "the healthy target exported")
	require.NotEqual(t, before, h.rowStamps())

	status, code := h.targetRow(res.RunID, key(projectA, "broken"))
	require.Equal(t, "failed", status)
	require.Equal(t, "SERVICE_UNAVAILABLE", code)
}

func TestSnapshotAddedAtTheHeadBetweenPages(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 10)
	newest := h.id(t0.Add(time.Hour))
	h.sim.OnPage(func(_, _ string, page int) {
		if page == 2 {
			h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(newest, t0.Add(time.Hour), "QUEUED"))
		}
	})

	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 10, res.Totals.Seen, "the id shifted onto page 2 counts once")
	require.Equal(t, 10, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions`))
	require.Equal(t, []string{"created"}, h.snapshot(ids[4]).versions)
}

func TestSnapshotRemovedAtTheHeadBetweenPagesIsNotAFalseRemoval(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 10)
	h.run(target(projectA, "c1"))

	// The newest snapshot goes while page 1 is read: page 2 then starts one
	// further on, so ids[5] is listed on neither page.
	h.sim.OnPage(func(_, _ string, page int) {
		if page == 2 {
			h.sim.RemoveSnapshot(projectA, "c1", ids[0])
		}
	})

	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.False(t, h.snapshot(ids[5]).removed, "the skipped snapshot is still live")
	require.Equal(t, []string{"created"}, h.snapshot(ids[5]).versions)
	require.False(t, h.snapshot(ids[0]).removed, "page 1 still listed the removed one")
	require.Zero(t, res.Totals.Removed)

	h.sim.OnPage(nil)
	res = h.run(target(projectA, "c1"))
	require.True(t, h.snapshot(ids[0]).removed, "the next complete listing removes it")
	require.Equal(t, 1, res.Totals.Removed)
	require.False(t, h.snapshot(ids[5]).removed)
}

func TestHistory(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{})
	h.sim.AddInstance(projectA, "s1", atlas.Serverless)
	id := h.id(t0)
	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(id, t0, "queued", 0))
	other := h.id(t0.Add(-time.Hour))
	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(other, t0.Add(-time.Hour), "completed", 1<<30))
	h.run(target(projectA, "s1"))

	// queued -> completed: exactly one new version.
	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(id, t0, "completed", 1<<20))
	res := h.run(target(projectA, "s1"))
	require.Equal(t, 1, res.Totals.Updated)
	require.Equal(t, []string{"created", "updated"}, h.snapshot(id).versions)
	require.Equal(t, 3, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions`))
	require.Equal(t, 1, h.count(`SELECT count(*) FROM atlas_backup.snapshot_versions WHERE id = $1 AND valid_to IS NULL`, id))

	// Unchanged: nothing written at all.
	before := h.rowStamps()
	res = h.run(target(projectA, "s1"))
	require.Zero(t, res.Totals.Created+res.Totals.Updated+res.Totals.Removed)
	require.Equal(t, before, h.rowStamps())

	// Gone from a complete listing: removed, with a version, row kept.
	h.sim.RemoveSnapshot(projectA, "s1", other)
	res = h.run(target(projectA, "s1"))
	require.Equal(t, 1, res.Totals.Removed)
	gone := h.snapshot(other)
	require.True(t, gone.removed)
	require.Equal(t, []string{"created", "removed"}, gone.versions)
	require.Equal(t, 2, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))
}

func TestBadBodiesWriteNothing(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		fault atlassim.Fault
	}{
		{"not JSON", atlassim.Fault{Status: http.StatusOK, Body: []byte("<html>maintenance</html>")}},
		{"cut off mid-page", atlassim.Fault{Truncate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newHarness(t, options{faults: true, maxRetries: 1})
			ids := h.addFlex(projectA, "c1", 7)
			h.run(target(projectA, "c1"))
			before := h.rowStamps()

			h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[0], t0, "FAILED"))
			h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
				if isListing(r) && r.URL.Query().Get("pageNum") == "2" {
					f := tt.fault

					return &f
				}

				return nil
			})

			res := h.run(target(projectA, "c1"))

			require.Equal(t, 1, res.Failed())
			require.Equal(t, before, h.rowStamps(), "nothing of the failed target was written")
			status, _ := h.targetRow(res.RunID, key(projectA, "c1"))
			require.Equal(t, "failed", status)
		})
	}
}

func TestUnknownProjectOrInstanceIsRecorded(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{})
	h.addFlex(projectA, "c1", 3)
	h.sim.AddProject(projectB, "b")

	res := h.run(
		atlas.Target{ProjectID: projectA},
		target(projectA, "nosuch"),
		atlas.Target{ProjectID: "5f1a00000000000000000ccc"},
	)

	require.Equal(t, 2, res.Failed())
	require.Equal(t, 3, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))

	_, code := h.targetRow(res.RunID, projectA+"/nosuch")
	require.Equal(t, "FLEX_CLUSTER_NOT_FOUND", code)
	_, code = h.targetRow(res.RunID, "5f1a00000000000000000ccc")
	require.Equal(t, "GROUP_NOT_FOUND", code)
}

func TestServerlessRetiredIsNotARemoval(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{faults: true})
	h.sim.AddInstance(projectA, "s1", atlas.Serverless)
	id := h.id(t0)
	h.sim.PutSnapshot(projectA, "s1", atlassim.ServerlessSnapshot(id, t0, "completed", 1<<20))
	h.run(target(projectA, "s1"))

	h.sim.Retire(atlas.Serverless)
	res := h.run(atlas.Target{ProjectID: projectA, Name: "s1", Family: atlas.Serverless})

	require.Equal(t, 1, res.Failed())
	require.False(t, h.snapshot(id).removed)
	require.Contains(t, res.Targets[0].Err.Error(), "retired")
}

func TestManyRemovalsAreConfirmedByASecondListing(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 10})
	ids := h.addFlex(projectA, "c1", 40)
	h.run(target(projectA, "c1"))

	// Retention drops the 25 oldest at once.
	for _, id := range ids[15:] {
		h.sim.RemoveSnapshot(projectA, "c1", id)
	}
	h.sim.ResetLog()

	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 25, res.Totals.Removed)
	require.Equal(t, 25, h.count(`SELECT count(*) FROM atlas_backup.snapshots WHERE removed_at IS NOT NULL`))
	require.Equal(t, 1+2*2+3, apiRequests(h), "discovery, two listings of two pages, three spot-check GETs, no GET per snapshot")
}

// A 404 without Atlas's error body (a proxy, a wrong base URL) used to count
// as proof that a snapshot was gone; only Atlas's own answer may remove one.
func TestBare404DoesNotRemoveASnapshot(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{faults: true})
	ids := h.addFlex(projectA, "c1", 3)
	h.run(target(projectA, "c1"))

	h.sim.RemoveSnapshot(projectA, "c1", ids[2])
	h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
		if strings.HasSuffix(r.URL.Path, "/"+ids[2]) {
			return &atlassim.Fault{Status: http.StatusNotFound, Body: []byte("<html>Not Found</html>")}
		}

		return nil
	})

	res := h.run(target(projectA, "c1"))

	require.Equal(t, 1, res.Failed())
	require.False(t, h.snapshot(ids[2]).removed)
}

// A Serverless instance migrated to Flex keeps its name. The Flex listing
// says nothing about the Serverless snapshots kept from before, so they must
// not be taken for removals.
func TestMigratedInstanceKeepsItsServerlessHistory(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{faults: true})
	h.sim.AddInstance(projectA, "app", atlas.Serverless)
	old := h.id(t0.Add(-48 * time.Hour))
	h.sim.PutSnapshot(projectA, "serverless:app", atlassim.ServerlessSnapshot(old, t0.Add(-48*time.Hour), "completed", 1<<20))
	h.run(atlas.Target{ProjectID: projectA})

	h.sim.AddInstance(projectA, "app", atlas.Flex)
	h.sim.PutSnapshot(projectA, "flex:app", atlassim.FlexSnapshot(h.id(t0), t0, "COMPLETED"))
	h.sim.Retire(atlas.Serverless)

	res := h.run(atlas.Target{ProjectID: projectA})

	require.Zero(t, res.Failed())
	require.Zero(t, res.Totals.Removed)
	require.False(t, h.snapshot(old).removed)
	require.Equal(t, 2, h.count(`SELECT count(*) FROM atlas_backup.snapshots WHERE removed_at IS NULL`))
}

// A project whose instances could not be listed is recorded as a failed
// target under the project's key; the next discovery that works must clear
// it, though the instances' own rows have other keys.
func TestProjectDiscoveryFailureClearsOnRecovery(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{faults: true})
	h.addFlex(projectA, "c1", 3)

	h.sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
		if strings.HasSuffix(r.URL.Path, "/flexClusters") {
			return &atlassim.Fault{Status: http.StatusServiceUnavailable}
		}

		return nil
	})

	failed := h.run(atlas.Target{ProjectID: projectA})
	require.Equal(t, 1, failed.Failed())
	status, _ := h.targetRow(failed.RunID, projectA)
	require.Equal(t, "failed", status)

	h.sim.Intercept(nil)
	ok := h.run(atlas.Target{ProjectID: projectA})

	require.Zero(t, ok.Failed())
	status, _ = h.targetRow(ok.RunID, projectA)
	require.Equal(t, "succeeded", status)
	require.Zero(t, h.count(`SELECT count(*) FROM atlas_backup.export_health
		WHERE target = $1 AND (last_status <> 'succeeded' OR consecutive_failures > 0)`, projectA))
}
