package fetch

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

func TestLimitersArePerProject(t *testing.T) {
	t.Parallel()

	l := newLimiters(1, 1)
	ctx := t.Context()

	waited, err := l.wait(ctx, testProject)
	require.NoError(t, err)
	require.Zero(t, waited)

	waited, err = l.wait(ctx, otherProject)
	require.NoError(t, err)
	require.Zero(t, waited, "a second project has its own bucket")

	require.Same(t, l.get(testProject), l.get(testProject))
	require.Greater(t, l.get(testProject).Reserve().Delay(), 50*time.Second, "the first project's bucket is empty")

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()

	_, err = l.wait(short, otherProject)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRateLimitPacesRequests(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{}
	for i := range 11 {
		h.items = append(h.items, flexSnap(i))
	}

	// 1200 a minute is one request every 50ms; with a burst of 1 the
	// eleven pages (the last one full, ended by the count) need at least
	// ten intervals.
	c, _ := newTestClient(t, h, func(cfg *Config) {
		cfg.PageSize = 1
		cfg.RateLimit = 1200
		cfg.RateBurst = 1
	})

	// Only lower bounds on time: a loaded machine makes everything slower,
	// and time spent elsewhere refills the bucket, so fewer requests may
	// need to wait.
	start := time.Now()
	_, stats, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Equal(t, 11, stats.Requests)
	require.GreaterOrEqual(t, time.Since(start), 450*time.Millisecond)
	require.Positive(t, stats.RateLimitWaits)
	require.LessOrEqual(t, stats.RateLimitWaits, 10, "the first request has the burst")

	other := atlas.Instance{ProjectID: otherProject, Name: "prod", Family: atlas.Flex}
	_, stats, err = collect(t.Context(), c, other)
	require.NoError(t, err)
	require.LessOrEqual(t, stats.RateLimitWaits, 10, "the other project's first request does not wait")
}
