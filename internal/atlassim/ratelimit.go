package atlassim

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimit configures a token bucket per project, as Atlas keeps for the
// Flex endpoints (1200 requests of capacity, refilled at 500 per minute).
// The project listing shares one bucket keyed by the empty project id.
type RateLimit struct {
	Capacity        int
	RefillPerMinute int

	// OmitHeaders stops RateLimit-Limit and RateLimit-Remaining, which
	// Atlas does not always send. Retry-After is always sent with 429.
	OmitHeaders bool

	// ErrorCode replaces RATE_LIMITED in 429 bodies (for example
	// RATE_LIMITED_TOKEN_BUCKET).
	ErrorCode string
}

type limiter struct {
	cfg RateLimit

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(cfg RateLimit) *limiter {
	if cfg.ErrorCode == "" {
		cfg.ErrorCode = CodeRateLimited
	}

	return &limiter{cfg: cfg, buckets: make(map[string]*bucket)}
}

// take spends one token of key's bucket. When none is left it returns how
// long until one is.
func (l *limiter) take(key string, now time.Time) (bool, int, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()

	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(l.cfg.Capacity), last: now}
		l.buckets[key] = b
	}

	perSecond := float64(l.cfg.RefillPerMinute) / 60
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(float64(l.cfg.Capacity), b.tokens+elapsed*perSecond)
		b.last = now
	}

	if b.tokens < 1 {
		if perSecond <= 0 {
			return false, 0, time.Hour
		}

		return false, 0, time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
	}

	b.tokens--

	return true, int(b.tokens), 0
}

// limit applies the project's bucket, answering 429 itself when it is empty.
func (s *Server) limit(w http.ResponseWriter, projectID string) bool {
	if s.rate == nil {
		return true
	}

	ok, remaining, wait := s.rate.take(projectID, s.now())
	h := w.Header()
	if !s.rate.cfg.OmitHeaders {
		h.Set("RateLimit-Limit", strconv.Itoa(s.rate.cfg.Capacity))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	}

	if ok {
		return true
	}

	h.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeError(w, http.StatusTooManyRequests, s.rate.cfg.ErrorCode,
		"You have exceeded the rate limit for this resource; retry later.")

	return false
}
