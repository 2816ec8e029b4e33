package fetch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// benchPage renders a listing page of n snapshots in the shape Atlas sends
// for the family, links included.
func benchPage(family atlas.Family, n int) []byte {
	var b strings.Builder
	b.WriteString(`{"links":[{"href":"https://cloud.mongodb.com/api/atlas/v2/groups/5f1a2b3c4d5e6f7a8b9c0d1e/flexClusters/prod/backup/snapshots?pageNum=1","rel":"self"}],"results":[`)

	t0 := time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}

		at := t0.Add(-time.Duration(i) * 24 * time.Hour)
		id := fmt.Sprintf("%08x%016x", uint32(at.Unix()), i)
		ts := func(d time.Duration) string { return at.Add(d).Format(time.RFC3339) }
		if family == atlas.Flex {
			fmt.Fprintf(&b, `{"expiration":%q,"finishTime":%q,"id":%q,"links":[{"href":"https://cloud.mongodb.com/api/atlas/v2/groups/5f1a2b3c4d5e6f7a8b9c0d1e/flexClusters/prod/backup/snapshots/%s","rel":"self"}],"mongoDBVersion":"8.0.12","scheduledTime":%q,"startTime":%q,"status":"COMPLETED"}`,
				ts(8*24*time.Hour), ts(4*time.Minute), id, id, ts(0), ts(45*time.Second))
		} else {
			fmt.Fprintf(&b, `{"createdAt":%q,"expiresAt":%q,"frequencyType":"daily","id":%q,"links":[{"href":"https://cloud.mongodb.com/api/atlas/v2/groups/5f1a2b3c4d5e6f7a8b9c0d1e/serverless/prod/backup/snapshots/%s","rel":"self"}],"mongodVersion":"7.0.21","serverlessInstanceName":"prod","snapshotType":"scheduled","status":"completed","storageSizeBytes":%d}`,
				ts(0), ts(48*time.Hour), id, id, 1<<30+i)
		}
	}

	b.WriteString(`]}`)

	return []byte(b.String())
}

// BenchmarkDecodePage measures turning one full page (500 snapshots) into
// Snapshots, by the single-pass decoder and by the two-pass encoding/json
// one it replaced (reference_test.go), side by side.
func BenchmarkDecodePage(b *testing.B) {
	for _, family := range []atlas.Family{atlas.Flex, atlas.Serverless} {
		inst := atlas.Instance{ProjectID: testProject, Name: "prod", Family: family}
		body := benchPage(family, MaxPageSize)

		// One decoder for all the pages, as for the pages of one listing.
		pages, err := newSnapshotPages(inst)
		if err != nil {
			b.Fatal(err)
		}

		decoders := []struct {
			name   string
			decode func() error
		}{
			{"encoding-json-two-pass", func() error {
				_, _, err := refDecodePage(inst, body)

				return err
			}},
			{"jsontext-one-pass", func() error {
				p, err := pages.decode(body)
				if err == nil {
					err = p.itemErr
				}

				return err
			}},
		}
		for _, d := range decoders {
			b.Run(string(family)+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if err := d.decode(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
