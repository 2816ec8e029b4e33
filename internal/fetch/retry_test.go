package fetch

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryWait(t *testing.T) {
	t.Parallel()

	const base, maxDelay = 100 * time.Millisecond, time.Second

	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		rnd        float64
		want       time.Duration
	}{
		{name: "first retry, top of the range", attempt: 0, rnd: 0.999999, want: 99_999_900 * time.Nanosecond},
		{name: "first retry, jitter to zero", attempt: 0, rnd: 0, want: 0},
		{name: "ceiling doubles", attempt: 2, rnd: 0.5, want: 200 * time.Millisecond},
		{name: "ceiling stops at the max", attempt: 30, rnd: 0.5, want: 500 * time.Millisecond},
		{name: "retry-after is a floor", attempt: 0, rnd: 0.1, retryAfter: 2 * time.Second, want: 2 * time.Second},
		{name: "retry-after below the jitter", attempt: 3, rnd: 0.9, retryAfter: 10 * time.Millisecond, want: 720 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got := retryWait(tt.attempt, base, maxDelay, tt.retryAfter, func() float64 { return tt.rnd })
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{name: "absent", value: "", want: 0},
		{name: "seconds", value: "7", want: 7 * time.Second},
		{name: "seconds with spaces", value: " 2 ", want: 2 * time.Second},
		{name: "negative", value: "-3", want: 0},
		{name: "http date", value: "Sun, 01 Mar 2026 12:00:30 GMT", want: 30 * time.Second},
		{name: "http date in the past", value: "Sun, 01 Mar 2026 11:00:00 GMT", want: 0},
		{name: "absurdly long is capped", value: "999999999", want: retryAfterCap},
		{name: "garbage", value: "soon", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.want, parseRetryAfter(tt.value, now))
		})
	}
}

// scripted answers the n-th request (from 1) with script(n).
func scripted(script func(w http.ResponseWriter, n int)) (http.Handler, *atomic.Int32) {
	var n atomic.Int32

	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		script(w, int(n.Add(1)))
	}), &n
}

// okPage answers an empty listing page.
func okPage(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"results": []any{}})
}

func TestRetries(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		script     func(w http.ResponseWriter, n int)
		wantErr    string
		wantStatus int
		requests   int
		check      func(t *testing.T, waits []time.Duration)
	}{
		{
			name: "429 with retry-after waits at least that long",
			script: func(w http.ResponseWriter, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", "3")
					writeAtlasError(w, http.StatusTooManyRequests, "RATE_LIMITED", "slow down")
					return
				}
				okPage(w)
			},
			requests: 2,
			check: func(t *testing.T, waits []time.Duration) {
				require.Equal(t, []time.Duration{3 * time.Second}, waits)
			},
		},
		{
			name: "429 without retry-after backs off",
			script: func(w http.ResponseWriter, n int) {
				if n <= 2 {
					writeAtlasError(w, http.StatusTooManyRequests, "RATE_LIMITED_TOKEN_BUCKET", "slow down")
					return
				}
				okPage(w)
			},
			requests: 3,
			check: func(t *testing.T, waits []time.Duration) {
				require.Len(t, waits, 2)
				require.LessOrEqual(t, waits[0], time.Millisecond)
				require.LessOrEqual(t, waits[1], 2*time.Millisecond)
			},
		},
		{
			name: "503 then 200",
			script: func(w http.ResponseWriter, n int) {
				if n == 1 {
					writeAtlasError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "later")
					return
				}
				okPage(w)
			},
			requests: 2,
		},
		{
			name: "retries exhausted keep the last status",
			script: func(w http.ResponseWriter, n int) {
				status := []int{500, 502, 504, 503}[n-1]
				writeAtlasError(w, status, "UNEXPECTED_ERROR", "attempt "+strconv.Itoa(n))
			},
			wantErr:    "after 4 attempts: GET /api/atlas/v2/groups/" + testProject + "/flexClusters/prod/backup/snapshots: status 503 UNEXPECTED_ERROR: attempt 4",
			wantStatus: 503,
			requests:   4,
		},
		{
			name: "410 version gone is never retried",
			script: func(w http.ResponseWriter, _ int) {
				writeAtlasError(w, http.StatusGone, "VERSION_GONE", "version 2024-11-13 is gone")
			},
			wantErr:    "status 410 VERSION_GONE (the API version was retired): version 2024-11-13 is gone",
			wantStatus: 410,
			requests:   1,
		},
		{
			name: "404 is not retried",
			script: func(w http.ResponseWriter, _ int) {
				writeAtlasError(w, http.StatusNotFound, "FLEX_CLUSTER_NOT_FOUND", "no cluster prod")
			},
			wantErr:    "status 404 FLEX_CLUSTER_NOT_FOUND: no cluster prod",
			wantStatus: 404,
			requests:   1,
		},
		{
			name: "html 502 from a proxy",
			script: func(w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>"))
			},
			wantErr:    "status 502: <html> <head><title>502 Bad Gateway</title></head> <body>nginx</body></html>",
			wantStatus: 502,
			requests:   4,
		},
		{
			name: "body cut off mid-read is retried",
			script: func(w http.ResponseWriter, n int) {
				if n == 1 {
					w.Header().Set("Content-Length", "100")
					w.WriteHeader(http.StatusOK)
					_, _ = w.Write([]byte(`{"results":[`))
					return
				}
				okPage(w)
			},
			requests: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h, n := scripted(tt.script)
			c, logs := newTestClient(t, h, nil)
			waits := recordSleeps(c)

			_, stats, err := collect(t.Context(), c, flexInstance("prod"))
			require.Equal(t, tt.requests, int(n.Load()))
			require.Equal(t, tt.requests, stats.Requests)
			require.Equal(t, tt.requests-1, stats.Retries)
			require.Equal(t, tt.requests-1, logs.count("retrying atlas request"))

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Equal(t, tt.wantStatus, StatusOf(err))
			} else {
				require.NoError(t, err)
			}

			if tt.check != nil {
				tt.check(t, waits())
			}
		})
	}
}

func TestRetryWaitIsCancellable(t *testing.T) {
	t.Parallel()

	h, _ := scripted(func(w http.ResponseWriter, _ int) {
		w.Header().Set("Retry-After", "600")
		writeAtlasError(w, http.StatusTooManyRequests, "RATE_LIMITED", "slow down")
	})
	c, _ := newTestClient(t, h, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, _, err := collect(ctx, c, flexInstance("prod"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 429, StatusOf(err))
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	t.Parallel()

	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done()
			return
		}
		okPage(w)
	})
	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond })

	_, stats, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Equal(t, 2, int(n.Load()))
	require.Equal(t, 1, stats.Retries)
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()

	h, n := scripted(func(w http.ResponseWriter, _ int) {
		writeJSON(w, http.StatusOK, map[string]any{"results": []any{flexSnap(1), flexSnap(2)}})
	})
	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.MaxBodyBytes = 64 })

	_, _, err := collect(t.Context(), c, flexInstance("prod"))
	require.ErrorContains(t, err, "response body too large: more than 64 bytes")
	require.Equal(t, 1, int(n.Load()))
}
