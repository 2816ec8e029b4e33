package fetch

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// observed records what the hooks of a Config heard.
type observed struct {
	mu        sync.Mutex
	responses map[string][]int
	retries   map[string]int
	waits     int
}

func (o *observed) install(cfg *Config) {
	o.responses, o.retries = map[string][]int{}, map[string]int{}
	cfg.OnResponse = func(family string, status int) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.responses[family] = append(o.responses[family], status)
	}
	cfg.OnRetry = func(family string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.retries[family]++
	}
	cfg.OnRateLimitWait = func(time.Duration) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.waits++
	}
}

func TestHooksHearResponsesAndRetries(t *testing.T) {
	t.Parallel()

	var calls atomic.Int64
	h := &pagedHandler{items: []map[string]any{flexSnap(1), flexSnap(2)}}
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			writeAtlasError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "try again")
			return
		}

		h.ServeHTTP(w, r)
	})

	var obs observed
	c, _ := newTestClient(t, flaky, obs.install)
	recordSleeps(c)

	_, stats, err := collect(context.Background(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Equal(t, 1, stats.Retries)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Equal(t, map[string][]int{"flex": {503, 200}}, obs.responses)
	require.Equal(t, map[string]int{"flex": 1}, obs.retries)
}

func TestHookHearsRateLimitWaits(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{items: []map[string]any{flexSnap(1), flexSnap(2), flexSnap(3)}}

	var obs observed
	c, _ := newTestClient(t, h, func(cfg *Config) {
		obs.install(cfg)
		cfg.PageSize = 1
		cfg.RateLimit = 6000 // 100 a second: the waits are short but real
		cfg.RateBurst = 1
	})

	_, stats, err := collect(context.Background(), c, flexInstance("prod"))
	require.NoError(t, err)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	require.Positive(t, stats.RateLimitWaits)
	require.Equal(t, stats.RateLimitWaits, obs.waits)
}

func TestNoHooksIsFine(t *testing.T) {
	t.Parallel()

	c, _ := newTestClient(t, &pagedHandler{items: []map[string]any{flexSnap(1)}}, nil)
	_, _, err := collect(context.Background(), c, flexInstance("prod"))
	require.NoError(t, err)
}
