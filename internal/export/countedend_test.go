package export_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// A listing ends on a full page when Atlas counts no more snapshots and
// sends no next link. The count is an estimate: when it falls short, the
// snapshots it hides must neither be taken for removals nor go unexported.
func TestShortCountIsListedOnBeforeAnythingCountsAsRemoved(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		skew     int // how far off Atlas's count is on the second run
		change   func(h *harness, ids []string)
		requests int // on the second run: discovery, listing, listing on, GETs
		created  int
		removed  int
	}{
		{
			name:     "five hidden by the count",
			skew:     -5,
			requests: 1 + 2 + 2,
		},
		{
			name: "a new snapshot pushes the oldest past the count",
			skew: -1,
			change: func(h *harness, _ []string) {
				at := t0.Add(time.Hour)
				h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(h.id(at), at, "COMPLETED"))
			},
			requests: 1 + 3 + 1,
			created:  1,
		},
		{
			name: "the count is right and five are gone",
			change: func(h *harness, ids []string) {
				for _, id := range ids[10:] {
					h.sim.RemoveSnapshot(projectA, "c1", id)
				}
			},
			requests: 1 + 2 + 1 + 5,
			removed:  5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := newHarness(t, options{pageSize: 5})
			ids := h.addFlex(projectA, "c1", 15)

			first := h.run(target(projectA, "c1"))
			require.Zero(t, first.Failed())
			require.Equal(t, 1+3, first.Totals.Requests, "discovery and three full pages, no empty one")

			if tt.change != nil {
				tt.change(h, ids)
			}
			h.sim.MiscountListings(func(string, string) int { return tt.skew })
			h.sim.ResetLog()

			res := h.run(target(projectA, "c1"))

			require.Zero(t, res.Failed())
			require.Equal(t, tt.created, res.Totals.Created)
			require.Equal(t, tt.removed, res.Totals.Removed)
			require.Equal(t, tt.requests, apiRequests(h))
			h.requireMirror(projectA, "c1")
		})
	}
}

// Many snapshots hidden by a short count are found by listing on, not by a
// second listing that the same count would cut short again.
func TestManyHiddenByAShortCountAreNotRemoved(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 10})
	h.addFlex(projectA, "c1", 60)
	require.Zero(t, h.run(target(projectA, "c1")).Failed())

	h.sim.MiscountListings(func(string, string) int { return -30 })
	h.sim.ResetLog()

	res := h.run(atlas.Target{ProjectID: projectA, Name: "c1", Family: atlas.Flex})

	require.Zero(t, res.Failed())
	require.Zero(t, res.Totals.Removed)
	require.Equal(t, 1+3+4, apiRequests(h), "discovery, three pages, then pages 4 to 7")
	h.requireMirror(projectA, "c1")
}
