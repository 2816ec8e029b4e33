package export_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// A panic inside one target's export used to crash the whole process; it
// must fail that target alone, roll it back, and let the run finish.
func TestPanicInATargetFailsOnlyThatTarget(t *testing.T) {
	t.Parallel()

	var responses atomic.Int64
	h := newHarness(t, options{concurrency: 1, fetch: func(c *fetch.Config) {
		c.OnResponse = func(string, int) {
			// 1 and 2: the two cluster lists; 3: the first listing page.
			if responses.Add(1) == 3 {
				panic("injected")
			}
		}
	}})
	h.addFlex(projectA, "c1", 3)
	h.addFlex(projectB, "c2", 4)

	res := h.run(atlas.Target{ProjectID: projectA, Name: "c1", Family: atlas.Flex}, atlas.Target{ProjectID: projectB, Name: "c2", Family: atlas.Flex})

	require.Equal(t, 1, res.Failed())
	require.ErrorContains(t, res.Targets[0].Err, "panic: injected")
	require.Equal(t, 4, h.count(`SELECT count(*) FROM atlas_backup.snapshots`), "only c2 was written")
	status, _ := h.targetRow(res.RunID, key(projectA, "c1"))
	require.Equal(t, "failed", status)
}
