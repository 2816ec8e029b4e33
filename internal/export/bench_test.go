package export_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// BenchmarkExport runs whole passes in process over 100 Flex clusters of
// 500 snapshots, for pprof: "first" into an empty database, "unchanged"
// over data already stored. The end-to-end figures come from
// cmd/benchexport; this is the profile behind them.
func BenchmarkExport(b *testing.B) {
	for _, name := range []string{"first", "unchanged"} {
		b.Run(name, func(b *testing.B) {
			sim := atlassim.New(atlassim.Config{NoAuth: true, NoRequestLog: true})
			targets := sim.Populate(atlassim.Shape{Projects: 2, FlexPerProject: 50, SnapshotsPerInstance: 500, Seed: 1, Now: t0})
			srv := httptest.NewServer(sim)
			b.Cleanup(srv.Close)

			client, err := fetch.NewClient(fetch.Config{BaseURL: srv.URL, RateLimit: 1 << 20, RateBurst: 1 << 10})
			if err != nil {
				b.Fatal(err)
			}

			p := export.Params{Targets: targets, Concurrency: 4}
			logger := slog.New(slog.DiscardHandler)

			var database *db.DB
			fresh := func() {
				database = dbtest.New(b)
				if name == "unchanged" {
					benchPass(b, export.New(client, database, logger), p)
				}
			}

			b.StopTimer()
			fresh()
			b.StartTimer()

			for b.Loop() {
				if name == "first" {
					b.StopTimer()
					fresh()
					b.StartTimer()
				}

				benchPass(b, export.New(client, database, logger), p)
			}

			b.ReportMetric(50000*float64(b.N)/b.Elapsed().Seconds(), "snapshots/s")
			reportHeap(b)
		})
	}
}

func benchPass(b *testing.B, e *export.Exporter, p export.Params) {
	b.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	res, err := e.Run(ctx, p)
	if err != nil || res.Failed() > 0 {
		b.Fatalf("export: %v, %d targets failed: %s", err, res.Failed(), firstFailure(res))
	}
}

func firstFailure(res export.Result) string {
	for _, t := range res.Targets {
		if t.Err != nil {
			return t.Key + ": " + t.Err.Error()
		}
	}

	return ""
}

// reportHeap reports the live heap after a collection: what the process
// keeps between passes.
func reportHeap(b *testing.B) {
	b.Helper()

	runtime.GC()

	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "MiB-heap-inuse")
}
