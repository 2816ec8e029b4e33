package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Media type versions, one per endpoint family.
const (
	versionFlex       = "2024-11-13"
	versionServerless = "2023-01-01"
)

// endpoint is one Atlas operation: its path template (the key for
// deprecation warnings) and the API version its Accept header names.
type endpoint struct {
	what     string
	template string
	version  string
}

// The operations the exporter uses.
var (
	epFlexClusters = endpoint{
		"list flex clusters", "/api/atlas/v2/groups/{groupId}/flexClusters", versionFlex,
	}
	epFlexSnapshots = endpoint{
		"list flex snapshots", "/api/atlas/v2/groups/{groupId}/flexClusters/{name}/backup/snapshots", versionFlex,
	}
	epFlexSnapshot = endpoint{
		"get flex snapshot", "/api/atlas/v2/groups/{groupId}/flexClusters/{name}/backup/snapshots/{snapshotId}", versionFlex,
	}
	epServerlessInstances = endpoint{
		"list serverless instances", "/api/atlas/v2/groups/{groupId}/serverless", versionServerless,
	}
	epServerlessSnapshots = endpoint{
		"list serverless snapshots", "/api/atlas/v2/groups/{groupId}/serverless/{clusterName}/backup/snapshots", versionServerless,
	}
	epServerlessSnapshot = endpoint{
		"get serverless snapshot", "/api/atlas/v2/groups/{groupId}/serverless/{clusterName}/backup/snapshots/{snapshotId}", versionServerless,
	}
)

// accept is the Accept header value for the endpoint's version.
func (e endpoint) accept() string {
	return "application/vnd.atlas." + e.version + "+json"
}

// request is one GET, before retries.
type request struct {
	ep        endpoint
	projectID string
	path      string // escaped
	query     url.Values
}

// outcome is what one attempt produced.
type outcome struct {
	err        error
	retry      bool
	status     int
	retryAfter time.Duration
}

// get sends r, retrying as configured, and hands the successful body to
// decode. A decode error that says the body was cut off is retried like a
// network error; any other decode error is final.
func (c *Client) get(ctx context.Context, r request, stats *ListStats, decode func([]byte) error) error {
	for attempt := 0; ; attempt++ {
		out := c.attempt(ctx, r, stats, decode)
		if out.err == nil || !out.retry || attempt >= c.cfg.MaxRetries {
			return c.finalError(out.err, attempt)
		}

		wait := retryWait(attempt, c.cfg.RetryBaseDelay, c.cfg.RetryMaxDelay, out.retryAfter, c.jitter)
		c.log.WarnContext(ctx, "retrying atlas request",
			"attempt", attempt+1, "status", out.status, "wait", wait.Seconds(), "path", r.path, "err", out.err)
		stats.Retries++
		c.observeRetry(r.ep)

		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("wait to retry after %w: %w", out.err, err)
		}
	}
}

// finalError notes how many attempts were spent when retries ran out.
func (c *Client) finalError(err error, attempt int) error {
	if err == nil || attempt == 0 {
		return err
	}

	return fmt.Errorf("after %d attempts: %w", attempt+1, err)
}

// attempt waits for the project's rate limiter, sends r once and
// classifies the result.
func (c *Client) attempt(ctx context.Context, r request, stats *ListStats, decode func([]byte) error) outcome {
	waited, err := c.limits.wait(ctx, r.projectID)
	stats.RateLimitWait += waited
	if waited > 0 {
		stats.RateLimitWaits++
		c.observeRateLimitWait(waited)
	}

	if err != nil {
		return outcome{err: err}
	}

	stats.Requests++

	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()

	status, header, body, err := c.roundTrip(actx, r)
	c.observeResponse(r.ep, status)
	if err != nil {
		return c.transportOutcome(ctx, r, err)
	}

	c.noteDeprecation(ctx, r.ep, header)

	if status < 200 || status > 299 {
		return outcome{
			err:        newAPIError(http.MethodGet, r.path, status, body),
			retry:      retryableStatus(status),
			status:     status,
			retryAfter: parseRetryAfter(header.Get("Retry-After"), c.now()),
		}
	}

	if err := decode(body); err != nil {
		err = fmt.Errorf("GET %s: %w", r.path, err)

		return outcome{err: err, retry: errors.Is(err, errTruncated), status: status}
	}

	return outcome{status: status}
}

// transportOutcome classifies an error that came before a full answer:
// the caller's cancellation and permanent problems stop, the rest retries.
func (c *Client) transportOutcome(ctx context.Context, r request, err error) outcome {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}

	err = fmt.Errorf("GET %s: %w", r.path, err)
	if ctx.Err() != nil {
		return outcome{err: err}
	}

	return outcome{err: err, retry: !permanentTransportError(err)}
}

// roundTrip sends one GET and reads the whole body, up to the cap.
func (c *Client) roundTrip(ctx context.Context, r request) (int, http.Header, []byte, error) {
	target := c.cfg.BaseURL + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}

	req.Header.Set("Accept", r.ep.accept())

	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()

	body, err := readBody(resp.Body, c.cfg.MaxBodyBytes)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read status %d body: %w", resp.StatusCode, err)
	}

	return resp.StatusCode, resp.Header, body, nil
}

// errBodyTooLarge is returned for a body past Config.MaxBodyBytes.
var errBodyTooLarge = errors.New("response body too large")

// readBody reads at most limit bytes and fails, permanently, past that.
// Each body is a new buffer that nothing writes to afterwards: decoded
// snapshots and instances keep sub-slices of it as their Raw, so it must
// never be pooled or reused.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}

	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
	}

	return body, nil
}

// noteDeprecation logs, once per endpoint per Client, that Atlas announced
// the retirement of the API version in use.
func (c *Client) noteDeprecation(ctx context.Context, ep endpoint, h http.Header) {
	dep, sunset := h.Get("Deprecation"), h.Get("Sunset")
	if dep == "" && sunset == "" {
		return
	}

	c.deprecationMu.Lock()
	seen := c.deprecationSeen[ep.template]
	c.deprecationSeen[ep.template] = true
	c.deprecationMu.Unlock()

	if seen {
		return
	}

	c.log.WarnContext(ctx, "atlas api version deprecated",
		"endpoint", ep.template, "version", ep.version, "deprecation", dep, "sunset", sunset)
}
