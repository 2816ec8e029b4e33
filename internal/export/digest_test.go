package export_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// exec runs a statement against the exporter's schema, as something other
// than the exporter would.
func (h *harness) exec(query string, args ...any) {
	h.t.Helper()

	_, err := h.pool.Exec(context.Background(), query, args...)
	require.NoError(h.t, err)
}

func TestUnchangedListingSkipsTheMerge(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 7)
	h.run(target(projectA, "c1"))
	require.Equal(t, 1, h.count(`SELECT count(*) FROM atlas_backup.instances
WHERE listing_digest IS NOT NULL AND listing_seen = 7 AND listing_digest_at = last_listed_at`))

	// A change made behind the exporter's back is not seen while the
	// listing stays the same: the proof that the merge was skipped.
	h.exec(`UPDATE atlas_backup.snapshots SET status = 'TAMPERED' WHERE id = $1`, ids[0])
	before := h.rowStamps()
	listedBefore := h.count(`SELECT extract(epoch FROM last_listed_at)::int FROM atlas_backup.instances`)

	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 7, res.Totals.Seen)
	require.Equal(t, 7, res.Totals.Unchanged)
	require.Zero(t, res.Totals.Created+res.Totals.Updated+res.Totals.Removed)
	require.Equal(t, before, h.rowStamps(), "nothing written to snapshots or snapshot_versions")
	require.Equal(t, "TAMPERED", h.snapshot(ids[0]).status)
	require.Equal(t, 1, h.count(`SELECT count(*) FROM atlas_backup.instances
WHERE listing_digest_at = last_listed_at AND extract(epoch FROM last_listed_at)::int >= $1`, listedBefore))
	require.Equal(t, 1, h.count(`SELECT count(*) FROM atlas_backup.export_run_targets
WHERE run_id = $1 AND status = 'succeeded' AND seen = 7 AND unchanged = 7`, res.RunID))

	// A merge that stored no digest (an exporter from before it) moves
	// last_listed_at alone: the digest is no longer trusted.
	h.exec(`UPDATE atlas_backup.instances SET last_listed_at = last_listed_at + interval '1 second'`)
	res = h.run(target(projectA, "c1"))
	require.Equal(t, 1, res.Totals.Updated)
	require.Equal(t, "COMPLETED", h.snapshot(ids[0]).status)
}

func TestChangedByteAfterSkippedRunIsMerged(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 7)
	h.run(target(projectA, "c1"))
	h.run(target(projectA, "c1"))

	h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[3], t0.Add(-3*time.Hour), "FAILED"))
	res := h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 1, res.Totals.Updated)
	require.Equal(t, 6, res.Totals.Unchanged)
	require.Equal(t, []string{"created", "updated"}, h.snapshot(ids[3]).versions)
	require.Equal(t, "FAILED", h.snapshot(ids[3]).status)
}

func TestRemovalAfterSkippedRunIsDetected(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 7)
	h.run(target(projectA, "c1"))
	res := h.run(target(projectA, "c1"))
	require.Equal(t, 7, res.Totals.Unchanged)

	h.sim.RemoveSnapshot(projectA, "c1", ids[6])
	res = h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 1, res.Totals.Removed)
	require.True(t, h.snapshot(ids[6]).removed)

	res = h.run(target(projectA, "c1"))
	require.Equal(t, 6, res.Totals.Unchanged, "the merged removal's listing is skipped next")
	require.True(t, h.snapshot(ids[6]).removed)
}

func TestListingWithSnapshotsConfirmedAliveStoresNoDigest(t *testing.T) {
	t.Parallel()

	h := newHarness(t, options{pageSize: 5})
	ids := h.addFlex(projectA, "c1", 10)
	h.run(target(projectA, "c1"))

	// ids[5] slips between the pages and is confirmed alive with a GET:
	// the merge leaves more than the listing, so no digest is kept.
	h.sim.OnPage(func(_, _ string, page int) {
		if page == 2 {
			h.sim.RemoveSnapshot(projectA, "c1", ids[0])
		}
	})
	h.run(target(projectA, "c1"))

	require.Equal(t, 1, h.count(`SELECT count(*) FROM atlas_backup.instances WHERE listing_digest IS NULL`))
}

func TestLongListingIsStagedAsItComes(t *testing.T) {
	t.Parallel()

	// 1,010 snapshots in pages of 400: more than the held-back share, so
	// the third page stages the first two and itself.
	h := newHarness(t, options{pageSize: 400})
	ids := h.addFlex(projectA, "c1", 1010)
	res := h.run(target(projectA, "c1"))
	require.Equal(t, 1010, res.Totals.Created)
	require.Equal(t, 1010, h.count(`SELECT count(*) FROM atlas_backup.snapshots`))

	res = h.run(target(projectA, "c1"))
	require.Equal(t, 1010, res.Totals.Unchanged)

	h.sim.PutSnapshot(projectA, "c1", atlassim.FlexSnapshot(ids[1005], t0.Add(-1005*time.Hour), "FAILED"))
	h.sim.RemoveSnapshot(projectA, "c1", ids[10])
	res = h.run(target(projectA, "c1"))

	require.Zero(t, res.Failed())
	require.Equal(t, 1, res.Totals.Updated)
	require.Equal(t, 1, res.Totals.Removed)
	require.Equal(t, 1008, res.Totals.Unchanged)
}
