package fetch

import (
	"context"
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
	Num int

	// Snapshots keep their Raw as sub-slices of the page's response body,
	// not copies: holding any of them holds the whole body.
	Snapshots []atlas.Snapshot

	// CountedEnd marks a full page that ended the listing because Atlas
	// said nothing follows it (see ListSnapshots); the empty page after it
	// was not asked for.
	CountedEnd bool
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

// codeTimeoutWhilePaging is Atlas's 500 for a count it could not finish.
const codeTimeoutWhilePaging = "TIMEOUT_WHILE_PAGING"

// paging is how one walk through a listing goes.
type paging struct {
	// from is the first page asked for.
	from int

	// counted asks for totalCount on page 1 and lets a full page end the
	// listing when the count is reached and the page has no next link.
	counted bool
}

// walkPages walks a paginated listing, decoding each page body with decode
// and handing its items to fn, and stops after a short or empty page, or,
// when counted, after a full page that Atlas says is the last. totalCount
// is asked for on page 1 only: Atlas documents it as an estimate and it
// has timed out on deep pages.
func walkPages[T any](ctx context.Context, c *Client, r request, stats *ListStats, pg paging,
	decode func(body []byte) (listPage[T], error),
	fn func(num int, items []T, countedEnd bool) error,
) error {
	total, seen := int64(-1), int64(0)

	for num := pg.from; ; num++ {
		if num-pg.from >= maxPages {
			return fmt.Errorf("%s: more than %d pages", r.ep.what, maxPages)
		}

		withCount := pg.counted && num == 1
		p, err := fetchPage(ctx, c, r, stats, num, withCount, decode)
		if withCount && ErrorCodeOf(err) == codeTimeoutWhilePaging {
			// The count is what timed out: the listing goes on without it.
			pg.counted = false
			p, err = fetchPage(ctx, c, r, stats, num, false, decode)
		}

		if err != nil {
			return fmt.Errorf("%s page %d: %w", r.ep.what, num, err)
		}

		if withCount {
			total = p.total
		}

		seen += int64(len(p.items))
		full := len(p.items) >= c.cfg.PageSize
		countedEnd := full && pg.counted && total >= 0 && seen >= total && p.self && !p.next

		stats.Pages++
		c.log.DebugContext(ctx, "fetched atlas page",
			"project_id", r.projectID, "path", r.path, "page", num, "items", len(p.items))

		if p.itemErr != nil {
			return fmt.Errorf("%s page %d: %w", r.ep.what, num, p.itemErr)
		}

		if err := fn(num, p.items, countedEnd); err != nil {
			return err
		}

		if !full || countedEnd {
			return nil
		}
	}
}

// fetchPage fetches page num of r's listing and decodes it with decode.
// An item that could not be decoded does not fail the request: the body
// was received whole, and asking again would bring the same item.
func fetchPage[T any](ctx context.Context, c *Client, r request, stats *ListStats, num int, withCount bool,
	decode func(body []byte) (listPage[T], error),
) (listPage[T], error) {
	r.query = url.Values{
		"itemsPerPage": {strconv.Itoa(c.cfg.PageSize)},
		"includeCount": {strconv.FormatBool(withCount)},
		"pageNum":      {strconv.Itoa(num)},
	}

	var p listPage[T]
	err := c.get(ctx, r, stats, func(body []byte) error {
		var err error
		p, err = decode(body)

		return err
	})

	return p, err
}

// ListSnapshots pages through inst's snapshots and hands each decoded page
// to fn as it arrives; fn's error stops the listing and is returned as is.
// Snapshots carry inst's ProjectID, Name and Family.
//
// The listing ends on a short or empty page, or on a full page when Atlas
// both counted no more snapshots (totalCount, asked for on page 1) and sent
// no next link with it; that page has CountedEnd set. The count is an
// estimate: a caller that finds snapshots missing after such a page should
// list on with ListSnapshotsFrom before it believes them gone.
func (c *Client) ListSnapshots(ctx context.Context, inst atlas.Instance, fn func(Page) error) (ListStats, error) {
	return c.listSnapshots(ctx, inst, paging{from: 1, counted: true}, fn)
}

// ListSnapshotsFrom is ListSnapshots from page first on, ending only on a
// short or empty page, whatever Atlas counts.
func (c *Client) ListSnapshotsFrom(ctx context.Context, inst atlas.Instance, first int, fn func(Page) error) (ListStats, error) {
	if first < 1 {
		return ListStats{}, fmt.Errorf("%w: first page %d", ErrInvalidArgument, first)
	}

	return c.listSnapshots(ctx, inst, paging{from: first}, fn)
}

func (c *Client) listSnapshots(ctx context.Context, inst atlas.Instance, pg paging, fn func(Page) error) (ListStats, error) {
	var stats ListStats
	if err := checkInstance(inst); err != nil {
		return stats, err
	}

	path, ep, _ := snapshotsPath(inst)
	r := request{ep: ep, projectID: inst.ProjectID, path: path}

	pages, err := newSnapshotPages(inst)
	if err != nil {
		return stats, err
	}

	err = walkPages(ctx, c, r, &stats, pg, pages.decode, func(num int, snaps []atlas.Snapshot, countedEnd bool) error {
		return fn(Page{Num: num, Snapshots: snaps, CountedEnd: countedEnd})
	})

	return stats, err
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
		var err error
		snap, err = decodeSnapshotBody(inst, body)

		return err
	})
	if err != nil {
		return atlas.Snapshot{}, stats, fmt.Errorf("%s %s: %w", ep.what, id, err)
	}

	return snap, stats, nil
}
