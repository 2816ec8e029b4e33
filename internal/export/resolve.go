package export

import (
	"context"
	"sync"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// resolve turns the configured targets into this shard's instances. A target
// that cannot be resolved becomes a failed TargetResult; an instance named by
// several targets is exported once. The counts are discovery's requests.
func (e *Exporter) resolve(ctx context.Context, runID int64, p Params) ([]atlas.Instance, []TargetResult, db.Counts) {
	found := make([][]atlas.Instance, len(p.Targets))
	failed := make([]*TargetResult, len(p.Targets))
	stats := make([]fetch.ListStats, len(p.Targets))

	var wg sync.WaitGroup
	sem := make(chan struct{}, max(p.Concurrency, 1))
	for i, t := range p.Targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()

			found[i], failed[i], stats[i] = e.resolveOne(ctx, runID, t)
		})
	}
	wg.Wait()

	// Discovery's requests count towards the run; its pages are not
	// snapshot listing pages.
	var discovery db.Counts
	for i, st := range stats {
		if failed[i] == nil {
			discovery.Requests += st.Requests
			discovery.Retries += st.Retries
		}
	}

	instances, failures := e.collect(ctx, found, failed, p.Owns)

	return instances, failures, discovery
}

func (e *Exporter) resolveOne(ctx context.Context, runID int64, t atlas.Target) ([]atlas.Instance, *TargetResult, fetch.ListStats) {
	start := e.now()

	instances, stats, err := e.client.Resolve(ctx, t)
	if err == nil {
		if t.Name == "" {
			e.recordDiscovered(runID, t, stats, start)
		}

		return instances, nil, stats
	}

	r := &TargetResult{Key: t.String(), Instance: atlas.Instance{ProjectID: t.ProjectID, Name: t.Name, Family: t.Family}, Err: err}
	r.Counts.Requests, r.Counts.Retries = stats.Requests, stats.Retries
	r.Duration = e.now().Sub(start)
	e.record(runID, *r, start)
	e.logTarget(*r)

	return nil, r, stats
}

// recordDiscovered records a project target whose instances were listed as
// succeeded, so that a discovery failure recorded under the project's key
// (in export_run_targets and in the per-target metrics) is cleared by the
// next discovery that works: the instances' own rows have other keys.
func (e *Exporter) recordDiscovered(runID int64, t atlas.Target, stats fetch.ListStats, start time.Time) {
	r := TargetResult{Key: t.String(), Instance: atlas.Instance{ProjectID: t.ProjectID, Family: t.Family}}
	r.Counts.Requests, r.Counts.Retries = stats.Requests, stats.Retries
	r.Duration = e.now().Sub(start)

	e.record(runID, r, start)
}

// collect deduplicates, applies the shard and stores what discovery saw.
func (e *Exporter) collect(ctx context.Context, found [][]atlas.Instance, failed []*TargetResult, owns func(string) bool) ([]atlas.Instance, []TargetResult) {
	var instances []atlas.Instance
	seen := map[string]bool{}
	for _, list := range found {
		for _, inst := range list {
			k := key(inst)
			if seen[k] || (owns != nil && !owns(k)) {
				continue
			}

			seen[k] = true
			instances = append(instances, inst)
		}
	}

	var failures []TargetResult
	for _, f := range failed {
		if f != nil {
			failures = append(failures, *f)
		}
	}

	if err := e.db.UpsertInstances(ctx, instances, e.now()); err != nil {
		e.log.Error("store discovered instances", "err", err)
	}

	return instances, failures
}
