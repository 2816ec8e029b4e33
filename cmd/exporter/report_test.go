package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
)

func TestParseReportArgs(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		args    []string
		want    reportArgs
		wantErr string
	}{
		{name: "name only", args: []string{"growth"},
			want: reportArgs{params: db.ReportParams{Name: "growth"}, format: "table"}},
		{name: "flags after the name", args: []string{"health", "--format", "csv", "--limit", "5"},
			want: reportArgs{params: db.ReportParams{Name: "health", Limit: 5}, format: "csv"}},
		{name: "flags before the name", args: []string{"--project=p1", "--instance", "i1", "expiring", "--format=json"},
			want: reportArgs{params: db.ReportParams{Name: "expiring", ProjectID: "p1", Instance: "i1"}, format: "json"}},
		{name: "no name", args: []string{"--format", "csv"}, wantErr: "report needs one of"},
		{name: "unknown name", args: []string{"sizes"}, wantErr: `unknown report "sizes"`},
		{name: "two names", args: []string{"growth", "health"}, wantErr: "one report name"},
		{name: "bad format", args: []string{"growth", "--format", "xml"}, wantErr: `--format "xml"`},
		{name: "negative limit", args: []string{"growth", "--limit", "-1"}, wantErr: "--limit -1"},
		{name: "unknown flag", args: []string{"growth", "--since", "1d"}, wantErr: "flag provided but not defined"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := parseReportArgs(tt.args)
			if tt.wantErr != "" {
				var usage usageError
				require.True(t, errors.As(err, &usage), "got %v", err)
				require.Contains(t, err.Error(), tt.wantErr)
				require.Equal(t, exitUsage, exitCode(context.Background(), err))

				return
			}

			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestWriteReportFormats(t *testing.T) {
	t.Parallel()

	res := db.ReportResult{
		Columns: []db.Column{
			{Name: "instance_name", Kind: db.KindText},
			{Name: "stored_bytes", Kind: db.KindBytes},
			{Name: "age", Kind: db.KindDuration},
			{Name: "last_completed_at", Kind: db.KindTime},
			{Name: "overdue", Kind: db.KindBool},
			{Name: "live_snapshots", Kind: db.KindInt},
		},
		Rows: [][]any{
			{"orders", int64(3 << 30), 50 * time.Hour, time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC), true, int64(12)},
			{"ledger", nil, nil, nil, false, int64(0)},
		},
	}

	tests := []struct {
		name   string
		format string
		want   string
	}{
		{name: "table", format: "table", want: `INSTANCE NAME  STORED BYTES  AGE    LAST COMPLETED AT  OVERDUE  LIVE SNAPSHOTS
orders         3.0 GiB       2d 2h  2026-03-01 06:00Z  yes      12
ledger         -             -      -                  no       0
`},
		{name: "csv", format: "csv", want: `instance_name,stored_bytes,age_seconds,last_completed_at,overdue,live_snapshots
orders,3221225472,180000,2026-03-01T06:00:00Z,true,12
ledger,,,,false,0
`},
		{name: "json", format: "json", want: `[
  {"instance_name": "orders", "stored_bytes": 3221225472, "age_seconds": 180000, "last_completed_at": "2026-03-01T06:00:00Z", "overdue": true, "live_snapshots": 12},
  {"instance_name": "ledger", "stored_bytes": null, "age_seconds": null, "last_completed_at": null, "overdue": false, "live_snapshots": 0}
]
`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var b bytes.Buffer
			require.NoError(t, writeReport(&b, tt.format, res))
			require.Equal(t, tt.want, b.String())
		})
	}
}

func TestHumanUnits(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "bytes", got: humanBytes(512), want: "512 B"},
		{name: "kibibytes", got: humanBytes(1536), want: "1.5 KiB"},
		{name: "exact mebibyte", got: humanBytes(1 << 20), want: "1.0 MiB"},
		{name: "negative", got: humanBytes(-5 << 30), want: "-5.0 GiB"},
		{name: "days", got: humanDuration(75 * time.Hour), want: "3d 3h"},
		{name: "hours", got: humanDuration(5*time.Hour + 20*time.Minute), want: "5h 20m"},
		{name: "minutes", got: humanDuration(12 * time.Minute), want: "12m"},
		{name: "seconds", got: humanDuration(45 * time.Second), want: "45s"},
		{name: "past", got: humanDuration(-26 * time.Hour), want: "-1d 2h"},
	}

	for _, tt := range tests {
		require.Equal(t, tt.want, tt.got, tt.name)
	}
}

// TestReportCommandReadsTheViews runs `exporter report` through run() on a
// migrated database: every report answers, even with no data.
func TestReportCommandReadsTheViews(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.NewURL(t))
	t.Setenv("LOG_LEVEL", "warn")

	for _, name := range db.ReportNames() {
		var out bytes.Buffer
		err := run(context.Background(), []string{"report", name, "--format", "csv"}, &out, io.Discard)
		require.NoError(t, err, name)
		require.Equal(t, 1, strings.Count(out.String(), "\n"), "%s: a header and no rows", name)
	}
}
