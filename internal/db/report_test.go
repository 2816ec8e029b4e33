package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

// TestReportFiltersAndTypes: the project and instance filters and the limit
// apply, and values come back as the Go types their kinds name.
func TestReportFiltersAndTypes(t *testing.T) {
	t.Parallel()

	d := dbtest.New(t)
	ctx := context.Background()
	_, err := d.Pool().Exec(ctx, `
INSERT INTO instances (project_id, name, family, first_seen_at, updated_at)
VALUES ('p1', 'a', 'flex', now() - interval '10 days', now()),
       ('p1', 'b', 'flex', now() - interval '10 days', now()),
       ('p2', 'c', 'flex', now() - interval '10 days', now());
INSERT INTO snapshots (id, project_id, instance_name, family, state, taken_at, raw, first_seen_at,
    last_seen_at, version)
VALUES ('s1', 'p1', 'a', 'flex', 'completed', now() - interval '2 hours', '{}', now(), now(), 1)`)
	require.NoError(t, err)

	tests := []struct {
		name   string
		params db.ReportParams
		want   []string
	}{
		{name: "all", params: db.ReportParams{Name: "freshness"}, want: []string{"b", "c", "a"}},
		{name: "project", params: db.ReportParams{Name: "freshness", ProjectID: "p1"}, want: []string{"b", "a"}},
		{name: "instance", params: db.ReportParams{Name: "freshness", Instance: "a"}, want: []string{"a"}},
		{name: "limit", params: db.ReportParams{Name: "freshness", Limit: 1}, want: []string{"b"}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			res, err := d.Report(ctx, tt.params)
			require.NoError(t, err)
			require.Equal(t, "instance_name", res.Columns[1].Name)

			var got []string
			for _, row := range res.Rows {
				got = append(got, row[1].(string))
			}

			require.Equal(t, tt.want, got)
		})
	}

	res, err := d.Report(ctx, db.ReportParams{Name: "freshness", Instance: "a"})
	require.NoError(t, err)

	row := map[string]any{}
	for i, c := range res.Columns {
		row[c.Name] = res.Rows[0][i]
	}

	require.InDelta(t, 2*time.Hour, row["age"], float64(time.Second))
	require.IsType(t, time.Time{}, row["last_completed_at"])
	require.Equal(t, false, row["overdue"])
	require.Equal(t, int64(0), row["failed_last_day"])
	require.Nil(t, row["usual_cadence"])

	_, err = d.Report(ctx, db.ReportParams{Name: "nope"})
	require.ErrorContains(t, err, `report "nope"`)
}
