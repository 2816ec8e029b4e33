package export_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// The history property: whatever sequence of listing states Atlas goes
// through (snapshots created, changing status and size, removed,
// reappearing), and whatever the page size and concurrency, the stored
// snapshot_versions of each snapshot are exactly the sequence of its
// distinct states, one version per change.

// modelSnap is one snapshot of the model: its state now and the history
// the database should hold.
type modelSnap struct {
	id      string
	at      time.Time
	present bool
	status  string
	size    int64
	history []modelVersion
}

type modelVersion struct {
	change string
	raw    []byte // nil for removed: it repeats the state before
}

// modelInstance is one simulated instance and its snapshots.
type modelInstance struct {
	name   string
	family atlas.Family
	snaps  []*modelSnap
}

var (
	flexStatuses       = []string{"PENDING", "QUEUED", "RUNNING", "COMPLETED", "FAILED"}
	serverlessStatuses = []string{"queued", "inProgress", "completed", "failed"}
)

func (m *modelInstance) object(s *modelSnap) map[string]any {
	if m.family == atlas.Serverless {
		return atlassim.ServerlessSnapshot(s.id, s.at, s.status, s.size)
	}

	return atlassim.FlexSnapshot(s.id, s.at, s.status)
}

// raw is s as the simulator lists it, placeholders filled in.
func (m *modelInstance) raw(h *harness, s *modelSnap) []byte {
	r := strings.NewReplacer("{groupId}", projectA, "{name}", m.name, "{clusterName}", m.name)

	return []byte(r.Replace(string(mustJSON(h.t, m.object(s)))))
}

// mutate changes the instance at random, as Atlas would between two runs,
// and applies the change to the simulator.
func (m *modelInstance) mutate(h *harness, rng *rand.Rand) {
	statuses := flexStatuses
	if m.family == atlas.Serverless {
		statuses = serverlessStatuses
	}

	massRemoval := len(m.snaps) > 25 && rng.IntN(4) == 0
	for _, s := range m.snaps {
		switch r := rng.IntN(10); {
		case massRemoval && s.present:
			s.present = false
		case !s.present && len(s.history) == 0 && r < 5: // created
			s.present, s.status, s.size = true, statuses[rng.IntN(len(statuses))], rng.Int64N(1<<40)
		case !s.present && len(s.history) > 0 && r == 0: // reappears, maybe changed
			s.present = true
			if rng.IntN(2) == 0 {
				s.status = statuses[rng.IntN(len(statuses))]
			}
		case s.present && r == 1:
			s.present = false
		case s.present && r == 2:
			s.status = statuses[rng.IntN(len(statuses))]
		case s.present && r == 3 && m.family == atlas.Serverless:
			s.size += rng.Int64N(1 << 30)
		}

		if s.present {
			h.sim.PutSnapshot(projectA, m.name, m.object(s))
		} else {
			h.sim.RemoveSnapshot(projectA, m.name, s.id)
		}
	}
}

// observe records in the model what a complete run sees.
func (m *modelInstance) observe(h *harness) {
	for _, s := range m.snaps {
		var last *modelVersion
		if n := len(s.history); n > 0 {
			last = &s.history[n-1]
		}

		switch {
		case s.present && last == nil:
			s.history = append(s.history, modelVersion{"created", m.raw(h, s)})
		case s.present:
			raw := m.raw(h, s)
			if last.change == "removed" || string(normJSONString(h.t, raw)) != string(normJSONString(h.t, lastRaw(s))) {
				s.history = append(s.history, modelVersion{"updated", raw})
			}
		case last != nil && last.change != "removed":
			s.history = append(s.history, modelVersion{change: "removed"})
		}
	}
}

// lastRaw is the last state with content in s's history.
func lastRaw(s *modelSnap) []byte {
	for i := len(s.history) - 1; i >= 0; i-- {
		if s.history[i].raw != nil {
			return s.history[i].raw
		}
	}

	return nil
}

func normJSONString(t *testing.T, b []byte) string {
	t.Helper()

	return fmt.Sprint(normJSON(t, b))
}

// requireHistory compares the stored versions of every snapshot with the
// model.
func (m *modelInstance) requireHistory(h *harness) {
	h.t.Helper()

	for _, s := range m.snaps {
		rows, err := h.pool.Query(context.Background(),
			`SELECT change, raw::text FROM atlas_backup.snapshot_versions WHERE id = $1 ORDER BY version`, s.id)
		require.NoError(h.t, err)

		var got []modelVersion
		for rows.Next() {
			var v modelVersion
			var raw string
			require.NoError(h.t, rows.Scan(&v.change, &raw))
			v.raw = []byte(raw)
			got = append(got, v)
		}
		require.NoError(h.t, rows.Err())

		require.Len(h.t, got, len(s.history), "snapshot %s of %s: versions", s.id, m.name)
		for i, want := range s.history {
			require.Equal(h.t, want.change, got[i].change, "snapshot %s version %d", s.id, i+1)
			if want.raw != nil {
				requireSameJSON(h.t, want.raw, got[i].raw)
			}
		}
	}
}

func TestHistoryEqualsTheSequenceOfDistinctStates(t *testing.T) {
	t.Parallel()

	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			t.Parallel()

			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			pageSize := []int{1, 2, 3, 5, 8, 500}[rng.IntN(6)]
			concurrency := 1 + rng.IntN(4)
			t.Logf("page size %d, concurrency %d", pageSize, concurrency)

			h := newHarness(t, options{pageSize: pageSize, concurrency: concurrency})
			instances := []*modelInstance{
				{name: "p1", family: atlas.Flex},
				{name: "p2", family: atlas.Serverless},
				{name: "p3", family: atlas.Flex},
			}
			var targets []atlas.Target
			for _, m := range instances {
				h.sim.AddInstance(projectA, m.name, m.family)
				for i := range 5 + rng.IntN(26) {
					at := t0.Add(-time.Duration(i) * time.Hour)
					m.snaps = append(m.snaps, &modelSnap{id: h.id(at), at: at})
				}
				targets = append(targets, target(projectA, m.name))
			}

			for run := range 10 {
				for _, m := range instances {
					m.mutate(h, rng)
				}

				res := h.run(targets...)
				require.Zero(t, res.Failed(), "run %d: %v", run, res.Targets)

				for _, m := range instances {
					m.observe(h)
					h.requireMirror(projectA, m.name)
				}
			}

			for _, m := range instances {
				m.requireHistory(h)
			}
		})
	}
}
