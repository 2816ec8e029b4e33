package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// maxPages stops a listing that never ends (a server that keeps answering
// full pages); at 500 a page it is ten million items.
const maxPages = 20000

// ListStats counts what one call cost, so the caller can record it per
// target.
type ListStats struct {
	Pages    int // pages handed over
	Requests int // HTTP attempts, retries included
	Retries  int

	RateLimitWait  time.Duration // total time spent waiting for the limiter
	RateLimitWaits int           // attempts that had to wait
}

// Add folds o into s.
func (s *ListStats) Add(o ListStats) {
	s.Pages += o.Pages
	s.Requests += o.Requests
	s.Retries += o.Retries
	s.RateLimitWait += o.RateLimitWait
	s.RateLimitWaits += o.RateLimitWaits
}

// Page is one page of a snapshot listing, decoded.
type Page struct {
	Num       int
	Snapshots []atlas.Snapshot
}

var snapshotIDPattern = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// checkProjectID refuses anything but a 24-digit hex project id.
func checkProjectID(id string) error {
	if err := atlas.CheckProjectID(id); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidArgument, id, err)
	}

	return nil
}

// checkInstance refuses an instance whose project id, name or family could
// not come from Atlas.
func checkInstance(inst atlas.Instance) error {
	if err := checkProjectID(inst.ProjectID); err != nil {
		return err
	}

	if err := checkName(inst.Name); err != nil {
		return err
	}

	if inst.Family != atlas.Flex && inst.Family != atlas.Serverless {
		return fmt.Errorf("%w: family %q", ErrInvalidArgument, inst.Family)
	}

	return nil
}

// checkName refuses an instance name that Atlas would not accept.
func checkName(name string) error {
	if err := atlas.CheckName(name); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrInvalidArgument, name, err)
	}

	return nil
}

// groupPath is the escaped path of a project.
func groupPath(projectID string) string {
	return "/api/atlas/v2/groups/" + url.PathEscape(projectID)
}

// snapshotsPath is the escaped path of inst's snapshot listing, and its
// endpoint for the list and for one snapshot.
func snapshotsPath(inst atlas.Instance) (string, endpoint, endpoint) {
	if inst.Family == atlas.Serverless {
		return groupPath(inst.ProjectID) + "/serverless/" + url.PathEscape(inst.Name) + "/backup/snapshots",
			epServerlessSnapshots, epServerlessSnapshot
	}

	return groupPath(inst.ProjectID) + "/flexClusters/" + url.PathEscape(inst.Name) + "/backup/snapshots",
		epFlexSnapshots, epFlexSnapshot
}

// pages walks a paginated listing from page 1, handing each page's raw
// results to fn, and stops after a short or empty page. totalCount is never
// asked for: Atlas documents it as an estimate and it is slow on deep pages.
func (c *Client) pages(ctx context.Context, r request, stats *ListStats,
	fn func(num int, results []json.RawMessage) error,
) error {
	for num := 1; ; num++ {
		if num > maxPages {
			return fmt.Errorf("%s: more than %d pages", r.ep.what, maxPages)
		}

		r.query = url.Values{
			"itemsPerPage": {strconv.Itoa(c.cfg.PageSize)},
			"includeCount": {"false"},
			"pageNum":      {strconv.Itoa(num)},
		}

		var results []json.RawMessage
		err := c.get(ctx, r, stats, func(body []byte) error {
			var err error
			results, err = decodeResults(body)

			return err
		})
		if err != nil {
			return fmt.Errorf("%s page %d: %w", r.ep.what, num, err)
		}

		stats.Pages++
		c.log.DebugContext(ctx, "fetched atlas page",
			"project_id", r.projectID, "path", r.path, "page", num, "items", len(results))

		if err := fn(num, results); err != nil {
			return err
		}

		if len(results) < c.cfg.PageSize {
			return nil
		}
	}
}

// ListSnapshots pages through inst's snapshots and hands each decoded page
// to fn as it arrives; fn's error stops the listing and is returned as is.
// Snapshots carry inst's ProjectID, Name and Family.
func (c *Client) ListSnapshots(ctx context.Context, inst atlas.Instance, fn func(Page) error) (ListStats, error) {
	var stats ListStats
	if err := checkInstance(inst); err != nil {
		return stats, err
	}

	path, ep, _ := snapshotsPath(inst)
	r := request{ep: ep, projectID: inst.ProjectID, path: path}

	err := c.pages(ctx, r, &stats, func(num int, results []json.RawMessage) error {
		page, err := decodeSnapshotPage(inst, num, results)
		if err != nil {
			return fmt.Errorf("%s page %d: %w", ep.what, num, err)
		}

		return fn(page)
	})

	return stats, err
}

// decodeSnapshotPage decodes every result of one page.
func decodeSnapshotPage(inst atlas.Instance, num int, results []json.RawMessage) (Page, error) {
	page := Page{Num: num, Snapshots: make([]atlas.Snapshot, 0, len(results))}

	for i, raw := range results {
		s, err := decodeSnapshot(inst, raw)
		if err != nil {
			return Page{}, fmt.Errorf("result %d: %w", i+1, err)
		}

		page.Snapshots = append(page.Snapshots, s)
	}

	return page, nil
}

// GetSnapshot fetches one snapshot of inst. A snapshot Atlas no longer has
// is an *APIError with Status 404 (see IsNotFound).
func (c *Client) GetSnapshot(ctx context.Context, inst atlas.Instance, id string) (atlas.Snapshot, ListStats, error) {
	var stats ListStats
	if err := checkInstance(inst); err != nil {
		return atlas.Snapshot{}, stats, err
	}

	if len(id) > atlas.MaxNameLen || !snapshotIDPattern.MatchString(id) {
		return atlas.Snapshot{}, stats, fmt.Errorf("%w: snapshot id %q", ErrInvalidArgument, id)
	}

	path, _, ep := snapshotsPath(inst)
	r := request{ep: ep, projectID: inst.ProjectID, path: path + "/" + url.PathEscape(id)}

	var snap atlas.Snapshot
	err := c.get(ctx, r, &stats, func(body []byte) error {
		if err := unmarshalBody(body, new(json.RawMessage)); err != nil {
			return err
		}

		var err error
		snap, err = decodeSnapshot(inst, json.RawMessage(bytes.TrimSpace(body)))

		return err
	})
	if err != nil {
		return atlas.Snapshot{}, stats, fmt.Errorf("%s %s: %w", ep.what, id, err)
	}

	return snap, stats, nil
}
