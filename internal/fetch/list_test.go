package fetch

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

func TestListSnapshotsPaging(t *testing.T) {
	t.Parallel()

	const pageSize = 4

	tests := []struct {
		name  string
		items int
		shape pageShape
		pages []int // sizes of the pages handed over
		ended bool  // the last page has CountedEnd
	}{
		{name: "empty listing", items: 0, pages: []int{0}},
		{name: "one full page", items: 4, pages: []int{4}, ended: true},
		{name: "three full pages", items: 12, pages: []int{4, 4, 4}, ended: true},
		{name: "three full pages and one more", items: 13, pages: []int{4, 4, 4, 1}},
		{name: "short first page", items: 3, pages: []int{3}},
		{name: "no links", items: 8, shape: pageShape{noLinks: true}, pages: []int{4, 4, 0}},
		{name: "next on every full page", items: 8, shape: pageShape{nextWhenFull: true}, pages: []int{4, 4, 0}},
		{name: "count too high", items: 8, shape: pageShape{countSkew: 1}, pages: []int{4, 4, 0}},
		{name: "count too low", items: 9, shape: pageShape{countSkew: -1}, pages: []int{4, 4}, ended: true},
		{name: "count times out", items: 8, shape: pageShape{countTimesOut: true}, pages: []int{4, 4, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			h := &pagedHandler{accept: "application/vnd.atlas.2024-11-13+json", pageShape: tt.shape}
			for i := range tt.items {
				h.items = append(h.items, flexSnap(i))
			}

			c, _ := newTestClient(t, h, func(cfg *Config) { cfg.PageSize = pageSize })

			pages, stats, err := collect(t.Context(), c, flexInstance("prod"))
			require.NoError(t, err)

			requests, nums := h.counts()
			require.Equal(t, requests, stats.Requests)
			require.Equal(t, len(tt.pages), stats.Pages)
			if !tt.shape.countTimesOut {
				require.Equal(t, []int{1}, h.counted, "totalCount is asked for on page 1 only")
			}

			var sizes []int
			for i, p := range pages {
				require.Equal(t, i+1, p.Num)
				require.Equal(t, tt.ended && i == len(pages)-1, p.CountedEnd, "page %d", p.Num)
				sizes = append(sizes, len(p.Snapshots))
			}

			require.Equal(t, tt.pages, sizes)

			if tt.shape.countTimesOut {
				require.Equal(t, 1+testConfig("", nil).MaxRetries, len(h.counted), "asked with the count until retries ran out")
				require.Equal(t, len(tt.pages)+len(h.counted), requests)
			} else {
				require.Equal(t, len(tt.pages), requests)
				require.Zero(t, stats.Retries)
				for i, n := range nums {
					require.Equal(t, i+1, n, "pages are asked for in order, once each")
				}
			}
		})
	}
}

func TestListSnapshotsFromEndsOnlyOnAShortPage(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{}
	for i := range 8 {
		h.items = append(h.items, flexSnap(i))
	}

	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.PageSize = 4 })

	var sizes []int
	stats, err := c.ListSnapshotsFrom(t.Context(), flexInstance("prod"), 2, func(p Page) error {
		require.False(t, p.CountedEnd)
		sizes = append(sizes, len(p.Snapshots))

		return nil
	})
	require.NoError(t, err)

	_, nums := h.counts()
	require.Equal(t, []int{2, 3}, nums)
	require.Empty(t, h.counted)
	require.Equal(t, []int{4, 0}, sizes)
	require.Equal(t, 2, stats.Pages)

	_, err = c.ListSnapshotsFrom(t.Context(), flexInstance("prod"), 0, func(Page) error { return nil })
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestListSnapshotsCarriesInstance(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{items: []map[string]any{flexSnap(1)}}
	c, _ := newTestClient(t, h, nil)

	pages, _, err := collect(t.Context(), c, flexInstance("prod"))
	require.NoError(t, err)
	require.Len(t, pages, 1)

	s := pages[0].Snapshots[0]
	require.Equal(t, testProject, s.ProjectID)
	require.Equal(t, "prod", s.InstanceName)
	require.Equal(t, atlas.Flex, s.Family)
	require.Equal(t, atlas.StateCompleted, s.State)
}

func TestListSnapshotsSendsFamilyPathAndVersion(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		family atlas.Family
		path   string
		accept string
	}{
		{
			name:   "flex",
			family: atlas.Flex,
			path:   "/api/atlas/v2/groups/" + testProject + "/flexClusters/prod-1/backup/snapshots",
			accept: "application/vnd.atlas.2024-11-13+json",
		},
		{
			name:   "serverless",
			family: atlas.Serverless,
			path:   "/api/atlas/v2/groups/" + testProject + "/serverless/prod-1/backup/snapshots",
			accept: "application/vnd.atlas.2023-01-01+json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var gotPath, gotAccept, gotUA string
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath, gotAccept, gotUA = r.URL.Path, r.Header.Get("Accept"), r.Header.Get("User-Agent")
				writeJSON(w, http.StatusOK, map[string]any{"results": []any{}})
			}), nil)

			inst := atlas.Instance{ProjectID: testProject, Name: "prod-1", Family: tt.family}
			_, _, err := collect(t.Context(), c, inst)
			require.NoError(t, err)
			require.Equal(t, tt.path, gotPath)
			require.Equal(t, tt.accept, gotAccept)
			require.Equal(t, DefaultUserAgent, gotUA)
		})
	}
}

func TestListSnapshotsCallbackErrorStops(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{}
	for i := range 10 {
		h.items = append(h.items, flexSnap(i))
	}

	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.PageSize = 2 })

	stop := errors.New("staging full")
	stats, err := c.ListSnapshots(t.Context(), flexInstance("prod"), func(p Page) error {
		if p.Num == 2 {
			return stop
		}

		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, stats.Pages)

	requests, _ := h.counts()
	require.Equal(t, 2, requests)
}

func TestListSnapshotsPageErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		body     string
		want     string
		requests int
	}{
		{name: "object without id names the page", body: `{"results":[{"status":"COMPLETED"}]}`, want: "list flex snapshots page 1: result 1: snapshot has no id", requests: 1},
		{name: "not json", body: `<html>hello</html>`, want: "not JSON", requests: 1},
		{name: "no results array", body: `{"totalCount":3}`, want: "no results array", requests: 1},
		{name: "null result", body: `{"results":[null]}`, want: "not a JSON object", requests: 1},
		{name: "json cut off is retried", body: `{"results":[{"id":"5f`, want: "cut off", requests: 4},
		{name: "bad timestamp", body: `{"results":[{"id":"a","startTime":"yesterday"}]}`, want: `startTime "yesterday"`, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var n atomic.Int32
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n.Add(1)
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(tt.body))
			}), nil)

			_, stats, err := collect(t.Context(), c, flexInstance("prod"))
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, tt.requests, int(n.Load()))
			require.Equal(t, tt.requests, stats.Requests)
		})
	}
}

func TestGetSnapshot(t *testing.T) {
	t.Parallel()

	id := hexID(7)
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/backup/snapshots/"+id) {
			writeJSON(w, http.StatusOK, flexSnap(7))
			return
		}

		writeAtlasError(w, http.StatusNotFound, "SNAPSHOT_NOT_FOUND", "no snapshot")
	}), nil)

	s, stats, err := c.GetSnapshot(t.Context(), flexInstance("prod"), id)
	require.NoError(t, err)
	require.Equal(t, id, s.ID)
	require.Equal(t, "prod", s.InstanceName)
	require.JSONEq(t, `{"id":"`+id+`","status":"COMPLETED","scheduledTime":"2025-06-01T00:00:00Z",
		"startTime":"2025-06-01T00:00:01Z","finishTime":"2025-06-01T00:02:00Z",
		"expiration":"2025-06-09T00:00:00Z","mongoDBVersion":"8.0.4"}`, string(s.Raw))
	require.Equal(t, 1, stats.Requests)

	_, stats, err = c.GetSnapshot(t.Context(), flexInstance("prod"), hexID(8))
	require.True(t, IsNotFound(err), "err: %v", err)
	require.Equal(t, "SNAPSHOT_NOT_FOUND", ErrorCodeOf(err))
	require.False(t, IsRetired(err))
	require.Equal(t, 1, stats.Requests)
}

func TestValidationBeforeAnyRequest(t *testing.T) {
	t.Parallel()

	var n atomic.Int32
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"results": []any{}})
	}), nil)

	ctx := t.Context()
	bad := []struct {
		name string
		call func() error
	}{
		{"upper-case project id", func() error {
			_, _, err := c.Discover(ctx, strings.ToUpper(testProject))
			return err
		}},
		{"short project id", func() error {
			_, _, err := c.Discover(ctx, "5f1a")
			return err
		}},
		{"name with slash", func() error {
			_, _, err := collect(ctx, c, flexInstance("a/../b"))
			return err
		}},
		{"name starting with dash", func() error {
			_, _, err := collect(ctx, c, flexInstance("-a"))
			return err
		}},
		{"name too long", func() error {
			_, _, err := collect(ctx, c, flexInstance(strings.Repeat("a", 65)))
			return err
		}},
		{"unknown family", func() error {
			_, _, err := collect(ctx, c, atlas.Instance{ProjectID: testProject, Name: "a", Family: "dedicated"})
			return err
		}},
		{"snapshot id with slash", func() error {
			_, _, err := c.GetSnapshot(ctx, flexInstance("a"), "../x")
			return err
		}},
		{"target with bad name", func() error {
			_, _, err := c.Resolve(ctx, atlas.Target{ProjectID: testProject, Name: "a b"})
			return err
		}},
		{"target with unknown family", func() error {
			_, _, err := c.Resolve(ctx, atlas.Target{ProjectID: testProject, Name: "a", Family: "free"})
			return err
		}},
	}
	for _, tt := range bad {
		require.ErrorIs(t, tt.call(), ErrInvalidArgument, tt.name)
	}

	require.Zero(t, n.Load())

	_, _, err := collect(ctx, c, flexInstance(strings.Repeat("a", 64)))
	require.NoError(t, err)
}

func TestListSnapshotsStopsOnCancel(t *testing.T) {
	t.Parallel()

	h := &pagedHandler{}
	for i := range 10 {
		h.items = append(h.items, flexSnap(i))
	}

	c, _ := newTestClient(t, h, func(cfg *Config) { cfg.PageSize = 2 })

	ctx, cancel := context.WithCancel(t.Context())
	_, err := c.ListSnapshots(ctx, flexInstance("prod"), func(p Page) error {
		if p.Num == 1 {
			cancel()
		}

		return nil
	})
	require.ErrorIs(t, err, context.Canceled)

	requests, _ := h.counts()
	require.Equal(t, 1, requests)
}
