package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// printDemoReport prints, per instance, the live snapshots, the newest
// completed one and the soonest expiry.
func printDemoReport(ctx context.Context, database *db.DB, w io.Writer) error {
	rows, err := database.InstanceSummaries(ctx)
	if err != nil {
		return databaseError{fmt.Errorf("read the report: %w", err)}
	}

	fmt.Fprintln(w, "\n== snapshots per instance")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tINSTANCE\tFAMILY\tLIVE\tNEWEST COMPLETED\tSOONEST EXPIRY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ProjectID, r.Name, r.Family, r.Live, when(r.NewestCompleted), when(r.SoonestExpiry))
	}

	return tw.Flush()
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}

	return t.UTC().Format("2006-01-02 15:04Z")
}
