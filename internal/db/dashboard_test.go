package db_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// dashboardFile is the Grafana dashboard shipped in deploy/grafana.
const dashboardFile = "../../deploy/grafana/atlas-backup-snapshots.json"

type dashboardPanel struct {
	Title   string           `json:"title"`
	Type    string           `json:"type"`
	Panels  []dashboardPanel `json:"panels"`
	Targets []struct {
		RawSQL string `json:"rawSql"`
	} `json:"targets"`
}

// panelQueries reads every panel's SQL, rows included, keyed by title.
func panelQueries(t *testing.T) map[string]string {
	t.Helper()

	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)

	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &dash))

	out := map[string]string{}
	var walk func([]dashboardPanel)
	walk = func(panels []dashboardPanel) {
		for _, p := range panels {
			walk(p.Panels)
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.RawSQL, "panel %q has a target without SQL", p.Title)
				out[p.Title] = tg.RawSQL
			}
		}
	}
	walk(dash.Panels)

	return out
}

// expandMacros does what Grafana's PostgreSQL data source does to the
// macros the dashboard uses, for the range [from, to].
func expandMacros(sql string, from, to time.Time) string {
	quote := func(tm time.Time) string { return "'" + tm.UTC().Format(time.RFC3339) + "'" }

	timeFilter := regexp.MustCompile(`\$__timeFilter\(([^)]+)\)`)
	sql = timeFilter.ReplaceAllString(sql, "$1 BETWEEN "+quote(from)+" AND "+quote(to))

	return strings.NewReplacer(
		"$__timeFrom()", quote(from),
		"$__timeTo()", quote(to),
		"${schema}", db.DefaultSchema,
	).Replace(sql)
}

// TestDashboardPanelsRunAgainstTheViews runs every panel's SQL against a
// migrated database with a little history, so that the dashboard cannot
// drift from the views: a renamed column or view fails here.
func TestDashboardPanelsRunAgainstTheViews(t *testing.T) {
	t.Parallel()

	queries := panelQueries(t)
	require.GreaterOrEqual(t, len(queries), 5)

	withFixture(t, func(f *fixture) {
		storageFixture(f)
		f.instance("stale", atlas.Flex, f.now.Add(-10*day))
		f.snapshot(snap{id: "stale-1", instance: "stale", family: atlas.Flex, state: atlas.StateFailed,
			takenAt: f.now.Add(-2 * day), expiresAt: ptr(f.now.Add(day))})
		f.exec(`INSERT INTO export_runs (id, started_at, status) VALUES (1, $1, 'failed')`, f.now)
		f.exec(`INSERT INTO export_run_targets (run_id, target, project_id, status) VALUES (1, 'p/x', 'p', 'failed')`)

		for title, sql := range queries {
			expanded := expandMacros(sql, f.now.Add(-30*day), f.now)
			require.NotContains(t, expanded, "$", "panel %q: a macro or variable was left unexpanded", title)

			rows := f.rows(expanded)
			require.NotEmpty(t, rows, "panel %q returned no rows on the fixture", title)
		}
	})
}
