package metrics

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
)

// RunStarted is part of export.Observer; a run counts once it finishes.
func (m *Metrics) RunStarted(int64) {}

// TargetFinished folds one target's outcome in: its snapshot counts, and
// its last success or one more consecutive failure. An interrupted target
// is neither: the process stopped, the target did not fail.
func (m *Metrics) TargetFinished(r export.TargetResult) {
	m.seen.Add(float64(r.Counts.Seen))
	m.changed.WithLabelValues("created").Add(float64(r.Counts.Created))
	m.changed.WithLabelValues("updated").Add(float64(r.Counts.Updated))
	m.changed.WithLabelValues("removed").Add(float64(r.Counts.Removed))

	labels := []string{r.Instance.ProjectID, r.Instance.Name}
	switch {
	case r.Err == nil:
		m.lastSuccess.WithLabelValues(labels...).Set(float64(time.Now().UnixMilli()) / 1000)
		m.failures.WithLabelValues(labels...).Set(0)
	case errors.Is(r.Err, context.Canceled):
	default:
		m.failures.WithLabelValues(labels...).Inc()
	}
}

// RunFinished counts the run by status and records its duration.
func (m *Metrics) RunFinished(r export.Result) {
	m.RunDone(r.Status, r.Duration)
}

// RunDone counts a run that ended with status after d: RunFinished's
// work, also used for a pass that never got as far as a Result (a panic).
func (m *Metrics) RunDone(status db.Status, d time.Duration) {
	m.runs.WithLabelValues(string(status)).Inc()
	m.runDuration.Observe(d.Seconds())
}

// redactErr keeps a Pushgateway error free of the URL's user info.
func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if at := strings.LastIndex(rawURL, "@"); at >= 0 {
		if scheme := strings.Index(rawURL, "://"); scheme >= 0 && scheme < at {
			msg = strings.ReplaceAll(msg, rawURL[scheme+3:at], "xxxxx")
		}
	}

	return msg
}
