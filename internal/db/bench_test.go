package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// benchPage builds one full page (500) of flexA's snapshots; gen makes the
// ids distinct between pages.
func benchPage(b *testing.B, gen int) []atlas.Snapshot {
	b.Helper()

	page := make([]atlas.Snapshot, 500)
	for i := range page {
		start := at(-24 * i)
		exp := start.Add(8 * 24 * time.Hour)
		id := fmt.Sprintf("%08x%016x", gen, i)
		raw, err := json.Marshal(map[string]any{
			"id": id, "status": "COMPLETED", "scheduledTime": start.Format(time.RFC3339),
			"startTime": start.Format(time.RFC3339), "finishTime": start.Add(4 * time.Minute).Format(time.RFC3339),
			"expiration": exp.Format(time.RFC3339), "mongoDBVersion": "8.0.12",
			"links": []any{map[string]any{"rel": "self", "href": "https://cloud.mongodb.com/api/atlas/v2/groups/" +
				flexA.ProjectID + "/flexClusters/" + flexA.Name + "/backup/snapshots/" + id}},
		})
		if err != nil {
			b.Fatal(err)
		}

		page[i] = atlas.Snapshot{
			ID: id, ProjectID: flexA.ProjectID, InstanceName: flexA.Name, Family: atlas.Flex,
			Status: "COMPLETED", State: atlas.StateCompleted, TakenAt: &start, DownloadExpiresAt: &exp,
			MongoDBVersion: "8.0.12", Raw: raw,
		}
	}

	return page
}

// BenchmarkStage measures copying one page of 500 snapshots into the
// staging table.
func BenchmarkStage(b *testing.B) {
	d := dbtest.New(b)
	ctx := context.Background()
	page := benchPage(b, 1)

	tx, err := d.BeginTarget(ctx, 0, flexA)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	b.ReportAllocs()
	for b.Loop() {
		if err := tx.Stage(ctx, page); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTarget measures one whole target transaction of 500 snapshots:
// begin (lock, staging table), stage, merge, commit. "new" inserts every
// snapshot; "unchanged" merges a listing equal to what is stored.
func BenchmarkTarget(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		d := dbtest.New(b)
		pages := make([][]atlas.Snapshot, 0, 64)

		gen := 0
		b.ReportAllocs()
		for b.Loop() {
			if gen%64 == 0 {
				b.StopTimer()
				pages = pages[:0]
				for i := range 64 {
					pages = append(pages, benchPage(b, gen+i))
				}
				b.StartTimer()
			}

			benchTarget(b, d, pages[gen%64])
			gen++
		}
	})

	b.Run("unchanged", func(b *testing.B) {
		d := dbtest.New(b)
		page := benchPage(b, 1)
		benchTarget(b, d, page)

		b.ReportAllocs()
		for b.Loop() {
			benchTarget(b, d, page)
		}
	})
}

func benchTarget(b *testing.B, d *db.DB, page []atlas.Snapshot) {
	b.Helper()

	ctx := context.Background()
	tx, err := d.BeginTarget(ctx, 0, flexA)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	if err := tx.Stage(ctx, page); err != nil {
		b.Fatal(err)
	}

	if _, err := tx.Merge(ctx, db.MergeParams{ObservedAt: at(0)}); err != nil {
		b.Fatal(err)
	}

	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}
