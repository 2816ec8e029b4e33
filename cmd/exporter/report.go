package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// reportFormats are the values --format accepts.
var reportFormats = []string{"table", "csv", "json"}

// reportArgs is a parsed `exporter report` command line.
type reportArgs struct {
	params db.ReportParams
	format string
}

// runReport is `exporter report NAME [--format table|csv|json] [--project ID]
// [--instance NAME] [--limit N]`: one reporting view, printed.
func runReport(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	ra, err := parseReportArgs(args)
	if err != nil {
		return err
	}

	database, err := db.Open(ctx, dbConfig(cfg))
	if err != nil {
		return databaseError{err}
	}
	defer database.Close()

	res, err := database.Report(ctx, ra.params)
	if db.IsUndefinedTable(err) {
		return databaseError{fmt.Errorf("%w (schema %s has no reporting views: check EXPORTER_DB_SCHEMA, which is atlas_demo for the demo's data; or run `exporter migrate up` or `exporter run` first)", err, cfg.Schema)}
	}
	if err != nil {
		return databaseError{err}
	}

	return writeReport(stdout, ra.format, res)
}

// parseReportArgs reads the report name and flags, in any order.
func parseReportArgs(args []string) (reportArgs, error) {
	ra := reportArgs{format: "table"}

	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&ra.format, "format", ra.format, "table, csv or json")
	fs.StringVar(&ra.params.ProjectID, "project", "", "only this Atlas project id")
	fs.StringVar(&ra.params.Instance, "instance", "", "only this instance name")
	fs.IntVar(&ra.params.Limit, "limit", 0, "at most this many rows (0: all)")

	for {
		if err := fs.Parse(args); err != nil {
			return reportArgs{}, usageError{"report: " + err.Error()}
		}

		args = fs.Args()
		if len(args) == 0 {
			break
		}

		if ra.params.Name != "" {
			return reportArgs{}, usageError{fmt.Sprintf("report takes one report name, got %q and %q", ra.params.Name, args[0])}
		}

		ra.params.Name, args = args[0], args[1:]
	}

	return ra, validateReportArgs(ra)
}

// validateReportArgs checks the report name, the format and the limit.
func validateReportArgs(ra reportArgs) error {
	names := db.ReportNames()

	switch {
	case ra.params.Name == "":
		return usageError{"report needs one of " + strings.Join(names, ", ")}
	case !slices.Contains(names, ra.params.Name):
		return usageError{fmt.Sprintf("unknown report %q, want one of %s", ra.params.Name, strings.Join(names, ", "))}
	case !slices.Contains(reportFormats, ra.format):
		return usageError{fmt.Sprintf("report --format %q, want one of %s", ra.format, strings.Join(reportFormats, ", "))}
	case ra.params.Limit < 0:
		return usageError{fmt.Sprintf("report --limit %d, want 0 (all) or more", ra.params.Limit)}
	}

	return nil
}

// writeReport prints the report in the chosen format.
func writeReport(w io.Writer, format string, res db.ReportResult) error {
	var err error

	switch format {
	case "csv":
		err = writeReportCSV(w, res)
	case "json":
		err = writeReportJSON(w, res)
	default:
		err = writeReportTable(w, res)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	return nil
}

// writeReportTable prints aligned columns with human units.
func writeReportTable(w io.Writer, res db.ReportResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)

	header := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		header[i] = strings.ToUpper(strings.ReplaceAll(c.Name, "_", " "))
	}

	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = humanValue(res.Columns[i].Kind, v)
		}

		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}

	if err := tw.Flush(); err != nil {
		return err
	}

	if len(res.Rows) == 0 {
		_, err := fmt.Fprintln(w, "(no rows)")

		return err
	}

	return nil
}

// writeReportCSV prints a header and raw values: bytes and counts as
// integers, durations in seconds, times in RFC 3339 UTC.
func writeReportCSV(w io.Writer, res db.ReportResult) error {
	cw := csv.NewWriter(w)

	if err := cw.Write(rawNames(res.Columns)); err != nil {
		return err
	}

	for _, row := range res.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			rec[i] = csvValue(rawValue(v))
		}

		if err := cw.Write(rec); err != nil {
			return err
		}
	}

	cw.Flush()

	return cw.Error()
}

// writeReportJSON prints an array of objects whose keys keep the column
// order, with the same raw values as CSV.
func writeReportJSON(w io.Writer, res db.ReportResult) error {
	names := rawNames(res.Columns)

	var b strings.Builder
	b.WriteString("[")
	for r, row := range res.Rows {
		if r > 0 {
			b.WriteString(",")
		}

		b.WriteString("\n  {")
		for i, v := range row {
			if i > 0 {
				b.WriteString(", ")
			}

			key, _ := json.Marshal(names[i])
			val, err := json.Marshal(rawValue(v))
			if err != nil {
				return fmt.Errorf("encode %s: %w", names[i], err)
			}

			b.Write(key)
			b.WriteString(": ")
			b.Write(val)
		}
		b.WriteString("}")
	}
	b.WriteString("\n]\n")

	_, err := io.WriteString(w, b.String())

	return err
}

// rawNames are the column names for CSV and JSON: durations say their unit.
func rawNames(cols []db.Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
		if c.Kind == db.KindDuration {
			names[i] += "_seconds"
		}
	}

	return names
}

// rawValue is a value for CSV and JSON: durations as seconds, times as
// RFC 3339 UTC strings, everything else as it is.
func rawValue(v any) any {
	switch v := v.(type) {
	case time.Duration:
		return v.Seconds()
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	default:
		return v
	}
}

// csvValue renders a raw value; null is an empty field.
func csvValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// humanValue renders a value for the terminal: sizes in IEC units,
// durations in days and hours, times to the minute in UTC, null as "-".
func humanValue(k db.Kind, v any) string {
	if v == nil {
		return "-"
	}

	switch v := v.(type) {
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04Z")
	case time.Duration:
		return humanDuration(v)
	case bool:
		if v {
			return "yes"
		}

		return "no"
	case float64:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case int64:
		if k == db.KindBytes {
			return humanBytes(v)
		}

		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}

// humanBytes renders a size in IEC units with one decimal: 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024

	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}

	if n < unit {
		return fmt.Sprintf("%s%d B", sign, n)
	}

	value, exp := float64(n), 0
	for value >= unit && exp < 6 {
		value /= unit
		exp++
	}

	return fmt.Sprintf("%s%.1f %ciB", sign, value, "KMGTPE"[exp-1])
}

// humanDuration renders a duration in its two largest units: 3d 4h, 5h 20m,
// 12m, 45s; negative ones (already past) with a minus sign.
func humanDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}

	days := d / (24 * time.Hour)
	hours := d % (24 * time.Hour) / time.Hour
	minutes := d % time.Hour / time.Minute

	switch {
	case days > 0:
		return fmt.Sprintf("%s%dd %dh", sign, days, hours)
	case hours > 0:
		return fmt.Sprintf("%s%dh %dm", sign, hours, minutes)
	case minutes > 0:
		return fmt.Sprintf("%s%dm", sign, minutes)
	default:
		return fmt.Sprintf("%s%ds", sign, d/time.Second)
	}
}
