package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

const (
	testProject  = "5f1a2b3c4d5e6f7a8b9c0d1e"
	otherProject = "6a1b2c3d4e5f6a7b8c9d0e1f"
)

// logBuffer collects a Client's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}

// count returns how many log lines carry msg.
func (b *logBuffer) count(msg string) int {
	return strings.Count(b.String(), `"msg":"`+msg+`"`)
}

// testConfig is a Config for a fake at baseURL: fast retries, no pacing to
// speak of, debug logs into logs.
func testConfig(baseURL string, logs *logBuffer) Config {
	return Config{
		BaseURL:        baseURL,
		PageSize:       500,
		RequestTimeout: 5 * time.Second,
		MaxRetries:     3,
		RateLimit:      6_000_000,
		RateBurst:      1000,
		RetryBaseDelay: time.Millisecond,
		RetryMaxDelay:  4 * time.Millisecond,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// newTestClient starts h on a test server and returns a Client for it;
// mod, when not nil, adjusts the config first.
func newTestClient(t *testing.T, h http.Handler, mod func(*Config)) (*Client, *logBuffer) {
	t.Helper()

	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	logs := &logBuffer{}
	cfg := testConfig(srv.URL, logs)
	if mod != nil {
		mod(&cfg)
	}

	c, err := NewClient(cfg)
	require.NoError(t, err)

	return c, logs
}

// recordSleeps replaces c's sleep with one that returns at once and notes
// each wait.
func recordSleeps(c *Client) func() []time.Duration {
	var (
		mu    sync.Mutex
		waits []time.Duration
	)

	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()

		waits = append(waits, d)

		return ctx.Err()
	}

	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()

		return append([]time.Duration(nil), waits...)
	}
}

// hexID is a 24-digit hex id made from i.
func hexID(i int) string {
	return fmt.Sprintf("%024x", i)
}

// flexSnap is a Flex snapshot object numbered i.
func flexSnap(i int) map[string]any {
	return map[string]any{
		"id":             hexID(i),
		"status":         "COMPLETED",
		"scheduledTime":  "2025-06-01T00:00:00Z",
		"startTime":      "2025-06-01T00:00:01Z",
		"finishTime":     "2025-06-01T00:02:00Z",
		"expiration":     "2025-06-09T00:00:00Z",
		"mongoDBVersion": "8.0.4",
	}
}

// writeJSON answers v as the given Atlas media type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAtlasError answers an Atlas error body.
func writeAtlasError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]any{
		"error": status, "errorCode": code, "detail": detail,
		"reason": http.StatusText(status), "parameters": []any{},
	})
}

// pagedHandler serves items as an Atlas offset-paged listing and counts
// requests; it checks the paging parameters the client sends. It answers
// totalCount when asked and links as Atlas does (self; next while more
// items follow), unless told otherwise.
type pagedHandler struct {
	items  []map[string]any
	accept string
	pageShape

	mu       sync.Mutex
	requests int
	pageNums []int
	counted  []int // page numbers asked for with includeCount=true
}

// pageShape is how a pagedHandler departs from what Atlas usually sends.
type pageShape struct {
	countSkew     int  // added to totalCount, and to the end the next links follow
	noLinks       bool // links is an empty array
	nextWhenFull  bool // a next link on every full page, more or not
	countTimesOut bool // includeCount=true answers 500 TIMEOUT_WHILE_PAGING
}

func (h *pagedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, err := strconv.Atoi(q.Get("itemsPerPage"))
	withCount, countErr := strconv.ParseBool(q.Get("includeCount"))
	if err != nil || size < 1 || size > 500 || countErr != nil {
		writeAtlasError(w, http.StatusBadRequest, "INVALID_QUERY", r.URL.RawQuery)
		return
	}

	if h.accept != "" && r.Header.Get("Accept") != h.accept {
		writeAtlasError(w, http.StatusNotAcceptable, "INVALID_VERSION_DATE", r.Header.Get("Accept"))
		return
	}

	num, _ := strconv.Atoi(q.Get("pageNum"))
	h.note(num, withCount)

	if withCount && h.countTimesOut {
		writeAtlasError(w, http.StatusInternalServerError, "TIMEOUT_WHILE_PAGING", "Timeout while paging.")
		return
	}

	start := min((num-1)*size, len(h.items))
	end := min(start+size, len(h.items))
	body := map[string]any{
		"results": append([]map[string]any{}, h.items[start:end]...),
		"links":   h.links(r, end, end-start == size),
	}
	if withCount {
		body["totalCount"] = len(h.items) + h.countSkew
	}

	writeJSON(w, http.StatusOK, body)
}

func (h *pagedHandler) note(num int, withCount bool) {
	h.mu.Lock()
	defer h.mu.Unlock()

	h.requests++
	h.pageNums = append(h.pageNums, num)
	if withCount {
		h.counted = append(h.counted, num)
	}
}

// links are the page's links: self, and next when the (skewed) count says
// more follow, or on every full page with nextWhenFull.
func (h *pagedHandler) links(r *http.Request, end int, full bool) []any {
	if h.noLinks {
		return []any{}
	}

	links := []any{map[string]any{"rel": "self", "href": "http://" + r.Host + r.URL.RequestURI()}}
	if end < len(h.items)+h.countSkew || (h.nextWhenFull && full) {
		links = append(links, map[string]any{"rel": "next", "href": "http://" + r.Host + r.URL.Path})
	}

	return links
}

func (h *pagedHandler) counts() (int, []int) {
	h.mu.Lock()
	defer h.mu.Unlock()

	return h.requests, append([]int(nil), h.pageNums...)
}

// flexInstance is the Instance value of a Flex cluster in the test project.
func flexInstance(name string) atlas.Instance {
	return atlas.Instance{ProjectID: testProject, Name: name, Family: atlas.Flex}
}

// collect lists inst's snapshots into one slice (tests only: the exporter
// never gathers a listing whole).
func collect(ctx context.Context, c *Client, inst atlas.Instance) ([]Page, ListStats, error) {
	var pages []Page
	stats, err := c.ListSnapshots(ctx, inst, func(p Page) error {
		pages = append(pages, p)
		return nil
	})

	return pages, stats, err
}
