package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kind says what a report column holds, and so which Go type its values
// have in ReportResult.Rows.
type Kind int

// The kinds of report columns. Values are nil where SQL has null.
const (
	KindText     Kind = iota // string
	KindInt                  // int64
	KindFloat                // float64
	KindBool                 // bool
	KindTime                 // time.Time, in UTC
	KindDuration             // time.Duration
	KindBytes                // int64, a size in bytes
)

// Column is one column of a report.
type Column struct {
	Name string
	Kind Kind
}

// ReportParams choose a report and filter its rows.
type ReportParams struct {
	// Name is one of ReportNames.
	Name string

	// ProjectID and Instance keep only the rows of that project or instance
	// name when set.
	ProjectID string
	Instance  string

	// Limit caps the rows returned; zero means every row.
	Limit int
}

// ReportResult is a report as plain values: each row holds one value per
// column, of the type the column's Kind names, or nil.
type ReportResult struct {
	Columns []Column
	Rows    [][]any
}

// reportColumn is a column of a report: the SQL that reads it from the view
// and what it holds.
type reportColumn struct {
	name string
	expr string
	kind Kind
}

// report is the query behind one report name: a view, its columns, an order.
type report struct {
	view    string
	columns []reportColumn
	orderBy string
}

// seconds reads an interval column as seconds, for KindDuration.
func seconds(col string) string {
	return "EXTRACT(epoch FROM " + col + ")::float8"
}

// reports are the `exporter report` choices, each over one reporting view.
var reports = map[string]report{
	"expiring": {
		view: "snapshot_expiry",
		columns: []reportColumn{
			{"project_id", "project_id", KindText},
			{"instance_name", "instance_name", KindText},
			{"snapshot_id", "snapshot_id", KindText},
			{"family", "family", KindText},
			{"state", "state", KindText},
			{"taken_at", "taken_at", KindTime},
			{"expires_at", "expires_at", KindTime},
			{"time_left", seconds("time_left"), KindDuration},
			{"expiry_source", "expiry_source", KindText},
		},
		orderBy: "expires_at NULLS LAST, project_id, instance_name, snapshot_id",
	},
	"freshness": {
		view: "instance_backup_freshness",
		columns: []reportColumn{
			{"project_id", "project_id", KindText},
			{"instance_name", "instance_name", KindText},
			{"family", "family", KindText},
			{"last_completed_at", "last_completed_at", KindTime},
			{"age", seconds("age"), KindDuration},
			{"usual_cadence", seconds("usual_cadence"), KindDuration},
			{"overdue", "overdue", KindBool},
			{"failed_last_day", "failed_last_day::bigint", KindInt},
			{"failed_last_week", "failed_last_week::bigint", KindInt},
			{"last_export_status", "last_export_status", KindText},
		},
		orderBy: "overdue DESC, age DESC NULLS FIRST, project_id, instance_name",
	},
	"growth": {
		view: "instance_growth",
		columns: []reportColumn{
			{"project_id", "project_id", KindText},
			{"instance_name", "instance_name", KindText},
			{"live_snapshots", "live_snapshots::bigint", KindInt},
			{"stored_bytes", "stored_bytes", KindBytes},
			{"stored_bytes_7d_ago", "stored_bytes_7d_ago", KindBytes},
			{"stored_bytes_30d_ago", "stored_bytes_30d_ago", KindBytes},
			{"growth_bytes_per_day", "round(growth_bytes_per_day)::bigint", KindBytes},
			{"change_30d_pct", "change_30d_pct::float8", KindFloat},
		},
		orderBy: "growth_bytes_per_day DESC NULLS LAST, project_id, instance_name",
	},
	"failures": {
		view: "snapshot_failures",
		columns: []reportColumn{
			{"project_id", "project_id", KindText},
			{"instance_name", "instance_name", KindText},
			{"snapshot_id", "snapshot_id", KindText},
			{"family", "family", KindText},
			{"status", "status", KindText},
			{"taken_at", "taken_at", KindTime},
			{"removed_at", "removed_at", KindTime},
		},
		orderBy: "taken_at DESC NULLS LAST, project_id, instance_name, snapshot_id",
	},
	"health": {
		view: "export_health",
		columns: []reportColumn{
			{"target", "target", KindText},
			{"last_run_at", "last_run_at", KindTime},
			{"last_status", "last_status", KindText},
			{"last_success_at", "last_success_at", KindTime},
			{"consecutive_failures", "consecutive_failures::bigint", KindInt},
			{"last_error_code", "last_error_code", KindText},
		},
		orderBy: "consecutive_failures DESC, target",
	},
}

// ReportNames lists the reports Report knows, in the order the command
// line documents them.
func ReportNames() []string {
	return []string{"expiring", "freshness", "growth", "failures", "health"}
}

// Report reads one report from its view.
func (d *DB) Report(ctx context.Context, p ReportParams) (ReportResult, error) {
	r, ok := reports[p.Name]
	if !ok {
		return ReportResult{}, fmt.Errorf("report %q: unknown, want one of %s", p.Name, strings.Join(ReportNames(), ", "))
	}

	query, args := r.query(p)

	rows, err := d.pool.Query(ctx, query, args...)
	if err != nil {
		return ReportResult{}, fmt.Errorf("read report %s from %s: %w", p.Name, r.view, err)
	}

	res, err := r.collect(rows)
	if err != nil {
		return ReportResult{}, fmt.Errorf("read report %s from %s: %w", p.Name, r.view, err)
	}

	return res, nil
}

// query builds the report's SELECT with its filters and limit.
func (r report) query(p ReportParams) (string, []any) {
	exprs := make([]string, len(r.columns))
	for i, c := range r.columns {
		exprs[i] = c.expr + " AS " + c.name
	}

	var where []string
	var args []any
	if p.ProjectID != "" {
		args = append(args, p.ProjectID)
		where = append(where, fmt.Sprintf("project_id = $%d", len(args)))
	}

	if p.Instance != "" {
		args = append(args, p.Instance)
		where = append(where, fmt.Sprintf("instance_name = $%d", len(args)))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s\nFROM %s", strings.Join(exprs, ", "), r.view)
	if len(where) > 0 {
		fmt.Fprintf(&b, "\nWHERE %s", strings.Join(where, " AND "))
	}

	fmt.Fprintf(&b, "\nORDER BY %s", r.orderBy)
	if p.Limit > 0 {
		args = append(args, p.Limit)
		fmt.Fprintf(&b, "\nLIMIT $%d", len(args))
	}

	return b.String(), args
}

// collect scans every row into plain values of each column's kind.
func (r report) collect(rows pgx.Rows) (ReportResult, error) {
	defer rows.Close()

	res := ReportResult{Columns: make([]Column, len(r.columns))}
	for i, c := range r.columns {
		res.Columns[i] = Column{Name: c.name, Kind: c.kind}
	}

	for rows.Next() {
		dest := make([]any, len(r.columns))
		for i, c := range r.columns {
			dest[i] = scanTarget(c.kind)
		}

		if err := rows.Scan(dest...); err != nil {
			return ReportResult{}, err
		}

		row := make([]any, len(dest))
		for i, c := range r.columns {
			row[i] = plainValue(c.kind, dest[i])
		}

		res.Rows = append(res.Rows, row)
	}

	return res, rows.Err()
}

// scanTarget is a pointer to a nullable value of the kind's SQL type.
func scanTarget(k Kind) any {
	switch k {
	case KindInt, KindBytes:
		return new(*int64)
	case KindFloat, KindDuration:
		return new(*float64)
	case KindBool:
		return new(*bool)
	case KindTime:
		return new(*time.Time)
	default:
		return new(*string)
	}
}

// plainValue turns a scanned target into the kind's Go value, or nil.
func plainValue(k Kind, target any) any {
	switch v := target.(type) {
	case **int64:
		return deref(*v)
	case **bool:
		return deref(*v)
	case **string:
		return deref(*v)
	case **time.Time:
		if *v == nil {
			return nil
		}

		return (*v).UTC()
	case **float64:
		if *v == nil {
			return nil
		}

		if k == KindDuration {
			return time.Duration(**v * float64(time.Second)).Round(time.Millisecond)
		}

		return **v
	default:
		return nil
	}
}

// deref returns *p, or nil when p is nil.
func deref[T any](p *T) any {
	if p == nil {
		return nil
	}

	return *p
}
