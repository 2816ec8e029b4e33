package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfterCap bounds how long a Retry-After header can make the client
// wait for one retry. Atlas sends a few seconds; a value past this is more
// likely a broken proxy than advice, and the run timeout bounds it anyway.
const retryAfterCap = 10 * time.Minute

// retryableStatus reports whether an answer with this status is worth
// asking again: rate limiting and the transient server errors.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests,
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	default:
		return false
	}
}

// retryWait is the pause before retry number attempt+1 (attempt counts from
// 0): a uniformly random share of an exponentially growing ceiling (full
// jitter), but never less than what the server asked for in Retry-After.
// rnd returns a value in [0, 1).
func retryWait(attempt int, base, maxDelay, retryAfter time.Duration, rnd func() float64) time.Duration {
	ceiling := base
	for i := 0; i < attempt && ceiling < maxDelay; i++ {
		ceiling *= 2
	}

	ceiling = min(ceiling, maxDelay)

	wait := time.Duration(rnd() * float64(ceiling))

	return max(wait, retryAfter)
}

// parseRetryAfter reads a Retry-After header, in seconds or as an HTTP date,
// and returns 0 when it is absent, malformed or in the past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}

	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(secs, 0), int64(retryAfterCap/time.Second))) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}

	return min(max(d, 0), retryAfterCap)
}

// sleepCtx waits for d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}

	t := time.NewTimer(d)
	defer t.Stop()

	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// jitter is the default random source for retryWait.
func jitter() float64 {
	return rand.Float64() //nolint:gosec // jitter needs no cryptographic randomness
}

// errRedirectRefused stops a redirect that would carry credentials to
// another host (or from https to http).
var errRedirectRefused = errors.New("redirect to another host refused")

// permanentTransportError reports whether a transport error will not go
// away by asking again: a refused redirect, a certificate problem, or an
// OAuth token endpoint that rejected the credentials.
func permanentTransportError(err error) bool {
	if errors.Is(err, errRedirectRefused) || errors.Is(err, errBodyTooLarge) {
		return true
	}

	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return true
	}

	var tokenErr *TokenError
	if errors.As(err, &tokenErr) {
		return !retryableStatus(tokenErr.Status)
	}

	return false
}
