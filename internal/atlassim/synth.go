package atlassim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Shape sizes the synthetic data of Populate.
type Shape struct {
	Projects             int
	FlexPerProject       int
	ServerlessPerProject int
	SnapshotsPerInstance int

	// Seed and Now make the data deterministic; a zero Now means the
	// current hour.
	Seed int64
	Now  time.Time
}

var synthWords = []string{"orders", "billing", "catalog", "events", "users", "search", "ledger", "audit"}

// Populate adds synthetic projects, instances and snapshots and returns one
// whole-project target per project. Flex clusters take daily snapshots;
// Serverless instances hourly or daily ones whose sizes grow over time.
// About one in thirty snapshots failed, and the newest may be in progress.
func (s *Server) Populate(shape Shape) []atlas.Target {
	now := shape.Now
	if now.IsZero() {
		now = time.Now().UTC().Truncate(time.Hour)
	}

	rng := rand.New(rand.NewPCG(uint64(shape.Seed), 0x5eed))
	targets := make([]atlas.Target, 0, shape.Projects)
	for p := range shape.Projects {
		id := fmt.Sprintf("%08x%016x", rng.Uint32(), rng.Uint64()) // stable for a seed, whatever the day
		s.AddProject(id, fmt.Sprintf("demo-project-%02d", p+1))
		s.populateProject(id, shape, now, rng)
		targets = append(targets, atlas.Target{ProjectID: id})
	}

	return targets
}

func (s *Server) populateProject(projectID string, shape Shape, now time.Time, rng *rand.Rand) {
	for i := range shape.FlexPerProject {
		name := fmt.Sprintf("%s-flex-%d", synthWords[rng.IntN(len(synthWords))], i+1)
		s.AddInstance(projectID, name, atlas.Flex)
		s.bulkPut(projectID, "flex:"+name, synthFlex(shape.SnapshotsPerInstance, now, rng))
	}

	for i := range shape.ServerlessPerProject {
		name := fmt.Sprintf("%s-sls-%d", synthWords[rng.IntN(len(synthWords))], i+1)
		s.AddInstance(projectID, name, atlas.Serverless)
		s.bulkPut(projectID, "serverless:"+name, synthServerless(shape.SnapshotsPerInstance, now, rng))
	}
}

// bulkPut stores many snapshots with one lock and one sort.
func (s *Server) bulkPut(projectID, ref string, snaps []map[string]any) {
	if len(snaps) == 0 {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	_, inst := s.mustInstance(projectID, ref)
	inst.put(projectID, snaps)
}

// synthFlex makes n daily Flex snapshots, newest first, at a per-cluster
// minute of the day.
func synthFlex(n int, now time.Time, rng *rand.Rand) []map[string]any {
	day := 24 * time.Hour
	slot := now.Truncate(day).Add(time.Duration(rng.IntN(24*60)) * time.Minute)
	if slot.After(now) {
		slot = slot.Add(-day)
	}

	out := make([]map[string]any, 0, n)
	for k := range n {
		at := slot.Add(-time.Duration(k) * day)
		snap := FlexSnapshot(SnapshotID(at, rng.Uint64()), at, synthFlexStatus(k, now.Sub(at), rng))
		snap["expiration"] = formatTime(at.Add(time.Duration(n) * day))
		out = append(out, snap)
	}

	return out
}

func synthFlexStatus(k int, age time.Duration, rng *rand.Rand) string {
	switch {
	case k == 0 && age < 5*time.Minute:
		return "QUEUED"
	case k == 0 && age < time.Hour:
		return "RUNNING"
	case rng.IntN(30) == 0:
		return "FAILED"
	default:
		return "COMPLETED"
	}
}

// synthServerless makes n hourly or daily Serverless snapshots, newest
// first, whose size grows by a per-instance daily rate.
func synthServerless(n int, now time.Time, rng *rand.Rand) []map[string]any {
	cadence, freq := time.Hour, "hourly"
	if rng.IntN(2) == 0 {
		cadence, freq = 24*time.Hour, "daily"
	}

	base := float64(50<<20) + rng.Float64()*float64(5<<30)
	growth := 0.001 + rng.Float64()*0.03
	latest := now.Truncate(cadence)

	out := make([]map[string]any, 0, n)
	for k := range n {
		at := latest.Add(-time.Duration(k) * cadence)
		status, size := synthServerlessStatus(k, base, growth, now.Sub(at), rng)
		snap := ServerlessSnapshot(SnapshotID(at, rng.Uint64()), at, status, size)
		snap["frequencyType"] = freq
		snap["expiresAt"] = formatTime(at.Add(time.Duration(n) * cadence))
		out = append(out, snap)
	}

	return out
}

func synthServerlessStatus(k int, base, growth float64, age time.Duration, rng *rand.Rand) (string, int64) {
	switch {
	case k == 0 && age < 10*time.Minute:
		return "inProgress", 0
	case rng.IntN(30) == 0:
		return "failed", 0
	}

	days := age.Hours() / 24
	size := base * math.Pow(1+growth, -days) * (0.995 + rng.Float64()*0.01)

	return "completed", int64(size)
}
