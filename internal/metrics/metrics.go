// Package metrics holds the exporter's Prometheus collectors: runs by
// status and their duration, each target's last success and consecutive
// failures, snapshots seen and changed, and Atlas requests by status,
// retries and rate-limit waits. It is fed by internal/export's Observer and
// internal/fetch's hooks, and exposed by `exporter serve` on /metrics or
// pushed to a Pushgateway by `exporter run`.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// Namespace prefixes every metric name.
const Namespace = "atlas_snapshot_exporter"

// Metrics is one registry of the exporter's collectors. Its methods are
// safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	runtime *prometheus.Registry

	runs          *prometheus.CounterVec
	runDuration   prometheus.Histogram
	lastSuccess   *prometheus.GaugeVec
	failures      *prometheus.GaugeVec
	seen          prometheus.Counter
	changed       *prometheus.CounterVec
	requests      *prometheus.CounterVec
	retries       *prometheus.CounterVec
	rateWaits     prometheus.Counter
	rateWaitTime  prometheus.Counter
	ticksSkipped  prometheus.Counter
	passesRunning prometheus.Gauge
}

// New returns a Metrics with every collector registered. Go runtime and
// process metrics are kept apart: Handler serves them, Push does not send
// them (a finished job's heap size means nothing on a Pushgateway).
func New() *Metrics {
	m := newCollectors()

	m.reg = prometheus.NewRegistry()
	m.reg.MustRegister(m.runs, m.runDuration, m.lastSuccess, m.failures, m.seen, m.changed,
		m.requests, m.retries, m.rateWaits, m.rateWaitTime, m.ticksSkipped, m.passesRunning)

	m.runtime = prometheus.NewRegistry()
	m.runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	return m
}

func newCollectors() *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	single := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}

	return &Metrics{
		runs: counter("runs_total", "Export runs finished, by status (succeeded, partial, failed, interrupted).", "status"),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "run_duration_seconds", Help: "Duration of export runs.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}),
		lastSuccess: gauge("target_last_success_timestamp_seconds", "Unix time of each target's last successful export.", "project_id", "instance"),
		failures:    gauge("target_consecutive_failures", "Failed exports of each target since its last success.", "project_id", "instance"),
		seen:        single("snapshots_seen_total", "Snapshots read from complete listings."),
		changed:     counter("snapshots_changed_total", "Snapshots written, by change (created, updated, removed).", "change"),
		requests:    counter("atlas_requests_total", "Atlas API requests, by family and HTTP status (0 when no answer came).", "family", "status"),
		retries:     counter("atlas_retries_total", "Atlas API requests retried, by family.", "family"),
		rateWaits:   single("atlas_rate_limit_waits_total", "Requests that waited for the client-side rate limiter."),
		rateWaitTime: single("atlas_rate_limit_wait_seconds_total",
			"Time spent waiting for the client-side rate limiter."),
		ticksSkipped:  single("schedule_ticks_skipped_total", "serve: schedule ticks skipped because a pass was still running."),
		passesRunning: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "pass_running", Help: "1 while an export pass runs."}),
	}
}

// Handler serves every metric, runtime ones included, in the Prometheus
// exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.reg, m.runtime}, promhttp.HandlerOpts{})
}

// Gatherer is the registry of the exporter's own metrics, without the
// runtime ones.
func (m *Metrics) Gatherer() prometheus.Gatherer {
	return m.reg
}

// Push replaces the metrics of group (job, grouping) on the Pushgateway at
// url with the current ones.
func (m *Metrics) Push(ctx context.Context, url, job string, grouping map[string]string) error {
	p := push.New(url, job).Gatherer(m.reg).Format(expfmt.NewFormat(expfmt.TypeTextPlain))
	for k, v := range grouping {
		p = p.Grouping(k, v)
	}

	if err := p.PushContext(ctx); err != nil {
		return errors.New("push metrics to the pushgateway: " + redactErr(err, url))
	}

	return nil
}

// FetchHooks installs the request, retry and rate-limit hooks in cfg.
func (m *Metrics) FetchHooks(cfg *fetch.Config) {
	cfg.OnResponse = func(family string, status int) {
		m.requests.WithLabelValues(family, strconv.Itoa(status)).Inc()
	}
	cfg.OnRetry = func(family string) {
		m.retries.WithLabelValues(family).Inc()
	}
	cfg.OnRateLimitWait = func(d time.Duration) {
		m.rateWaits.Inc()
		m.rateWaitTime.Add(d.Seconds())
	}
}

// TickSkipped counts a schedule tick that found a pass still running.
func (m *Metrics) TickSkipped() {
	m.ticksSkipped.Inc()
}

// PassRunning sets the pass_running gauge.
func (m *Metrics) PassRunning(running bool) {
	v := 0.0
	if running {
		v = 1
	}

	m.passesRunning.Set(v)
}

var _ export.Observer = (*Metrics)(nil)
