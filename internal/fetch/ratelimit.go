package fetch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters keeps one token bucket per Atlas project, because Atlas counts
// its own buckets per project: a busy project must not slow the others.
type limiters struct {
	mu     sync.Mutex
	perMin int
	burst  int
	byID   map[string]*rate.Limiter
}

// newLimiters returns buckets that refill perMin tokens a minute and hold
// at most burst.
func newLimiters(perMin, burst int) *limiters {
	return &limiters{perMin: perMin, burst: burst, byID: make(map[string]*rate.Limiter)}
}

// get returns the project's limiter, creating it on first use.
func (l *limiters) get(projectID string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()

	lim, ok := l.byID[projectID]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(l.perMin)/60), l.burst)
		l.byID[projectID] = lim
	}

	return lim
}

// wait blocks until the project may send a request or ctx is done, and
// returns how long it had to wait (0 when a token was at hand).
func (l *limiters) wait(ctx context.Context, projectID string) (time.Duration, error) {
	r := l.get(projectID).Reserve()
	if !r.OK() {
		return 0, errors.New("rate limiter burst is zero")
	}

	d := r.Delay()
	if d == 0 {
		return 0, nil
	}

	if err := sleepCtx(ctx, d); err != nil {
		r.Cancel()

		return 0, fmt.Errorf("wait for rate limit: %w", err)
	}

	return d, nil
}
