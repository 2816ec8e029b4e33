package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// Simulator credentials. The simulator is told NoAuth so that warming its
// page cache needs no token; the exporter still fetches one.
const (
	simClientID     = "mdb_sa_id_benchexport"
	simClientSecret = "mdb_sa_sk_benchexport"
	warmers         = 64
)

// dataNow pins the synthetic data, so every run lists the same snapshots.
var dataNow = time.Date(2026, time.March, 1, 0, 0, 0, 0, time.UTC)

// simulator is the running Atlas simulator and what it holds.
type simulator struct {
	srv       *atlassim.Server
	run       *atlassim.Running
	targets   []atlas.Target
	instances []atlas.Instance
	http      *http.Client
}

// startSimulator populates and starts the simulator and learns the
// instance names through its API.
func startSimulator(ctx context.Context, p params) (*simulator, error) {
	srv := atlassim.New(atlassim.Config{
		ClientID: simClientID, ClientSecret: simClientSecret, NoAuth: true,
		NoRequestLog: true, Latency: p.Latency,
	})

	s := &simulator{srv: srv, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: warmers}}}
	s.targets = srv.Populate(atlassim.Shape{
		Projects: p.Projects, FlexPerProject: p.Instances / p.Projects,
		SnapshotsPerInstance: p.Snapshots, Seed: 1, Now: dataNow,
	})

	run, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}

	s.run = run
	if err := s.discover(ctx); err != nil {
		s.close()

		return nil, err
	}

	return s, nil
}

func (s *simulator) close() {
	_ = s.run.Close()
}

// targetList is EXPORTER_TARGETS: every project, whole.
func (s *simulator) targetList() string {
	ids := make([]string, 0, len(s.targets))
	for _, t := range s.targets {
		ids = append(ids, t.ProjectID)
	}

	return strings.Join(ids, ",")
}

// discover lists each project's Flex clusters (one page of 500 at most).
func (s *simulator) discover(ctx context.Context) error {
	for _, t := range s.targets {
		path := "/api/atlas/v2/groups/" + t.ProjectID + "/flexClusters?itemsPerPage=500&includeCount=false"
		body, err := s.get(ctx, path, atlassim.MediaTypeFlex)
		if err != nil {
			return fmt.Errorf("list clusters of %s: %w", t.ProjectID, err)
		}

		var page struct {
			Results []struct{ Name string } `json:"results"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("decode clusters of %s: %w", t.ProjectID, err)
		}

		for _, r := range page.Results {
			s.instances = append(s.instances, atlas.Instance{ProjectID: t.ProjectID, Name: r.Name, Family: atlas.Flex})
		}
	}

	return nil
}

// warm asks for every listing page the exporter will ask for, with the
// same query, so that the simulator serves them from its cache of encoded
// pages and its own CPU hardly counts against the exporter.
func (s *simulator) warm(ctx context.Context, p params) error {
	pages := p.Snapshots/p.PageSize + 1 // the empty page too, should one be asked for
	work := make(chan string)
	errs := make(chan error, warmers)

	var wg sync.WaitGroup
	for range warmers {
		wg.Go(func() {
			for path := range work {
				if _, err := s.get(ctx, path, atlassim.MediaTypeFlex); err != nil {
					errs <- err
					return
				}
			}
		})
	}

	for _, inst := range s.instances {
		for num := 1; num <= pages; num++ {
			work <- listingPath(inst, p.PageSize, num)
		}
	}
	close(work)
	wg.Wait()
	close(errs)

	return <-errs
}

// listingPath is the exporter's request for one page; the query keys are
// in url.Values.Encode order, as the exporter sends them, and the count is
// asked for on page 1 only.
func listingPath(inst atlas.Instance, size, num int) string {
	q := url.Values{
		"itemsPerPage": {strconv.Itoa(size)},
		"includeCount": {strconv.FormatBool(num == 1)},
		"pageNum":      {strconv.Itoa(num)},
	}

	return "/api/atlas/v2/groups/" + inst.ProjectID + "/flexClusters/" + inst.Name + "/backup/snapshots?" + q.Encode()
}

func (s *simulator) get(ctx context.Context, path, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.run.URL+path, nil)
	if err != nil {
		return nil, err
	}

	req.Header.Set("Accept", accept)

	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}

	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d: %.200s", path, resp.StatusCode, body)
	}

	return body, nil
}

// change alters the given share of each instance's snapshots (every k-th
// one, spread over the listing) the way Atlas does when a snapshot's
// download link is renewed: a later expiration. It returns how many.
func (s *simulator) change(share float64) int {
	if share <= 0 {
		return 0
	}

	step := max(int(1/share+0.5), 1)
	n := 0
	for _, inst := range s.instances {
		snaps := s.srv.Snapshots(inst.ProjectID, "flex:"+inst.Name)
		for i := 0; i < len(snaps); i += step {
			snap := snaps[i]
			snap["expiration"] = laterTime(snap["expiration"])
			s.srv.PutSnapshot(inst.ProjectID, "flex:"+inst.Name, snap)
			n++
		}
	}

	return n
}

// laterTime moves an RFC 3339 time a day on; anything else becomes a fixed
// time.
func laterTime(v any) string {
	if str, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339, str); err == nil {
			return t.Add(24 * time.Hour).UTC().Format(time.RFC3339)
		}
	}

	return dataNow.Format(time.RFC3339)
}
