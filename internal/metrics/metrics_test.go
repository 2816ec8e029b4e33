package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/export"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

const project = "5f1a2b3c4d5e6f7a8b9c0d1e"

func target(name string, err error, c db.Counts) export.TargetResult {
	return export.TargetResult{
		Key:      project + "/" + name,
		Instance: atlas.Instance{ProjectID: project, Name: name, Family: atlas.Flex},
		Counts:   c,
		Err:      err,
	}
}

func TestTargetOutcomes(t *testing.T) {
	t.Parallel()

	m := New()
	m.TargetFinished(target("a", nil, db.Counts{Seen: 10, Created: 3, Updated: 2, Removed: 1}))
	m.TargetFinished(target("b", errors.New("status 500"), db.Counts{}))
	m.TargetFinished(target("b", errors.New("status 500"), db.Counts{}))
	m.TargetFinished(target("b", context.Canceled, db.Counts{}))
	m.TargetFinished(target("a", nil, db.Counts{Seen: 10}))

	require.InDelta(t, 20, testutil.ToFloat64(m.seen), 0)
	require.InDelta(t, 3, testutil.ToFloat64(m.changed.WithLabelValues("created")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.changed.WithLabelValues("removed")), 0)
	require.InDelta(t, 2, testutil.ToFloat64(m.failures.WithLabelValues(project, "b")), 0, "an interruption is not a failure")
	require.InDelta(t, 0, testutil.ToFloat64(m.failures.WithLabelValues(project, "a")), 0)
	require.InDelta(t, float64(time.Now().Unix()), testutil.ToFloat64(m.lastSuccess.WithLabelValues(project, "a")), 5)
}

func TestRunsAndRequests(t *testing.T) {
	t.Parallel()

	m := New()
	m.RunFinished(export.Result{Status: db.StatusSucceeded, Duration: 2 * time.Second})
	m.RunDone(db.StatusFailed, time.Second)

	var cfg fetch.Config
	m.FetchHooks(&cfg)
	cfg.OnResponse("flex", 200)
	cfg.OnResponse("flex", 429)
	cfg.OnRetry("flex")
	cfg.OnRateLimitWait(1500 * time.Millisecond)

	require.InDelta(t, 1, testutil.ToFloat64(m.runs.WithLabelValues("succeeded")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.runs.WithLabelValues("failed")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.requests.WithLabelValues("flex", "429")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(m.retries.WithLabelValues("flex")), 0)
	require.InDelta(t, 1.5, testutil.ToFloat64(m.rateWaitTime), 0.001)
	require.Equal(t, 1, testutil.CollectAndCount(m.runDuration) /* one histogram */)
}

func TestHandlerServesEveryFamily(t *testing.T) {
	t.Parallel()

	m := New()
	m.RunDone(db.StatusSucceeded, time.Second)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, name := range []string{"runs_total", "run_duration_seconds", "go_goroutines", "process_"} {
		require.Contains(t, string(body), name)
	}
}

func TestPush(t *testing.T) {
	t.Parallel()

	var gotPath, gotBody, gotMethod string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotPath, gotBody, gotMethod = r.URL.Path, string(b), r.Method
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(gw.Close)

	m := New()
	m.RunDone(db.StatusSucceeded, time.Second)
	require.NoError(t, m.Push(context.Background(), gw.URL, "atlas_snapshot_exporter", map[string]string{"shard": "0"}))
	require.Equal(t, http.MethodPut, gotMethod)
	require.Equal(t, "/metrics/job/atlas_snapshot_exporter/shard/0", gotPath)
	require.Contains(t, gotBody, "runs_total")
	require.NotContains(t, gotBody, "go_goroutines", "runtime metrics stay off the pushgateway")
}

func TestPushErrorHidesUserInfo(t *testing.T) {
	t.Parallel()

	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(gw.Close)

	u := strings.Replace(gw.URL, "http://", "http://push:hunter2@", 1)
	err := New().Push(context.Background(), u, "job", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}
