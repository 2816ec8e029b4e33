package atlassim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

const (
	defaultItemsPerPage = 100
	maxItemsPerPage     = 500
	maxCachedPages      = 64
)

// pageParams are the validated pagination query parameters.
type pageParams struct {
	num, size int
	count     bool
}

// pageKey identifies a cached page. base is scheme and host, which the
// links embed.
type pageKey struct {
	base string
	pageParams
}

type link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// parsePage reads pageNum, itemsPerPage and includeCount, answering 400
// INVALID_ATTRIBUTE itself for bad values.
func parsePage(w http.ResponseWriter, r *http.Request) (pageParams, bool) {
	q := r.URL.Query()
	pp := pageParams{num: 1, size: defaultItemsPerPage, count: true}

	var ok bool
	if pp.num, ok = intParam(q, "pageNum", 1, 1<<31-1, pp.num); !ok {
		writeError(w, http.StatusBadRequest, CodeInvalidAttribute, "Invalid attribute pageNum specified.", "pageNum")
		return pp, false
	}

	if pp.size, ok = intParam(q, "itemsPerPage", 1, maxItemsPerPage, pp.size); !ok {
		writeError(w, http.StatusBadRequest, CodeInvalidAttribute, "Invalid attribute itemsPerPage specified.", "itemsPerPage")
		return pp, false
	}

	if v := q.Get("includeCount"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeInvalidAttribute, "Invalid attribute includeCount specified.", "includeCount")
			return pp, false
		}
		pp.count = b
	}

	return pp, true
}

func intParam(q url.Values, name string, lo, hi, def int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}

	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}

	return n, true
}

// renderPage encodes one page of a listing of total items; item(i) is the
// encoded i-th item of the whole listing.
func renderPage(base, path string, pp pageParams, total int, item func(i int) []byte) []byte {
	return renderCountedPage(base, path, pp, total, total, item)
}

// renderCountedPage is renderPage for a listing whose totalCount, and the
// next links that follow from it, say reported rather than total.
func renderCountedPage(base, path string, pp pageParams, total, reported int, item func(i int) []byte) []byte {
	start, end := pageBounds(pp, total)

	var b bytes.Buffer
	b.WriteString(`{"links":`)
	links, _ := json.Marshal(pageLinks(base+path, pp, end < reported))
	b.Write(links)
	b.WriteString(`,"results":[`)
	for i := start; i < end; i++ {
		if i > start {
			b.WriteByte(',')
		}
		b.Write(item(i))
	}
	b.WriteByte(']')
	if pp.count {
		b.WriteString(`,"totalCount":`)
		b.WriteString(strconv.Itoa(max(reported, 0)))
	}
	b.WriteByte('}')

	return b.Bytes()
}

// pageBounds is the half-open range of items on the page.
func pageBounds(pp pageParams, total int) (int, int) {
	if pp.num-1 > total/pp.size {
		return total, total
	}

	start := min((pp.num-1)*pp.size, total)

	return start, min(start+pp.size, total)
}

// pageLinks are self, and next and previous where they exist.
func pageLinks(u string, pp pageParams, more bool) []link {
	href := func(num int) string {
		q := url.Values{}
		q.Set("pageNum", strconv.Itoa(num))
		q.Set("itemsPerPage", strconv.Itoa(pp.size))
		q.Set("includeCount", strconv.FormatBool(pp.count))

		return u + "?" + q.Encode()
	}

	links := []link{{Href: href(pp.num), Rel: "self"}}
	if more {
		links = append(links, link{Href: href(pp.num + 1), Rel: "next"})
	}

	if pp.num > 1 {
		links = append(links, link{Href: href(pp.num - 1), Rel: "previous"})
	}

	return links
}

// baseURL is the scheme and host the client used.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}

	return "http://" + r.Host
}

// serveProjects is GET /groups.
func (s *Server) serveProjects(w http.ResponseWriter, r *http.Request) {
	pp, ok := parsePage(w, r)
	if !ok {
		return
	}

	base := baseURL(r)

	s.mu.RLock()
	defer s.mu.RUnlock()

	body := renderPage(base, r.URL.Path, pp, len(s.order), func(i int) []byte {
		return encodeProject(base, s.order[i])
	})
	writeBody(w, http.StatusOK, MediaTypeProjects, body)
}

// serveInstances lists a project's Flex clusters or Serverless instances.
func (s *Server) serveInstances(w http.ResponseWriter, r *http.Request, rt route) {
	pp, ok := parsePage(w, r)
	if !ok || !checkGroupID(w, rt.projectID) {
		return
	}

	base := baseURL(r)

	s.mu.RLock()
	defer s.mu.RUnlock()

	p := s.projects[rt.projectID]
	if p == nil {
		writeGroupNotFound(w, rt.projectID)
		return
	}

	list := p.flex
	if rt.family == atlas.Serverless {
		list = p.sls
		if s.emptySLS {
			list = nil
		}
	}

	body := renderPage(base, r.URL.Path, pp, len(list), func(i int) []byte {
		return encodeInstance(base, p.id, list[i])
	})
	writeBody(w, http.StatusOK, rt.mediaType(), body)
}

// serveSnapshots lists an instance's snapshots, newest first, from the page
// cache when the instance has not changed.
func (s *Server) serveSnapshots(w http.ResponseWriter, r *http.Request, rt route) {
	pp, ok := parsePage(w, r)
	if !ok || !checkGroupID(w, rt.projectID) || !s.exists(w, rt) {
		return
	}

	if hook := s.onPage.Load(); hook != nil {
		(*hook)(rt.projectID, rt.instance, pp.num)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()

	inst := s.findLocked(w, rt)
	if inst == nil {
		return
	}

	key := pageKey{base: baseURL(r), pageParams: pp}
	var body []byte
	if skew := s.countSkew(rt.projectID, rt.instance); skew != 0 {
		body = renderCountedPage(key.base, r.URL.Path, pp, len(inst.order), len(inst.order)+skew, func(i int) []byte {
			return inst.order[i].raw
		})
	} else {
		body = inst.page(key, r.URL.Path)
	}

	writeBody(w, http.StatusOK, rt.mediaType(), body)
}

// page returns an encoded page, building and caching it on a miss. The
// caller holds s.mu for reading, so the snapshots cannot change meanwhile.
func (inst *simInstance) page(key pageKey, path string) []byte {
	inst.cacheMu.Lock()
	defer inst.cacheMu.Unlock()

	if inst.cacheGen != inst.gen || inst.cache == nil || len(inst.cache) >= maxCachedPages {
		inst.cache = make(map[pageKey][]byte)
		inst.cacheGen = inst.gen
	}

	if b, ok := inst.cache[key]; ok {
		return b
	}

	b := renderPage(key.base, path, key.pageParams, len(inst.order), func(i int) []byte {
		return inst.order[i].raw
	})
	inst.cache[key] = b

	return b
}

// serveSnapshot returns one snapshot.
func (s *Server) serveSnapshot(w http.ResponseWriter, rt route) {
	if !checkGroupID(w, rt.projectID) {
		return
	}

	if !isHexID(rt.snapshotID) {
		writeError(w, http.StatusBadRequest, CodeInvalidAttribute, "Invalid attribute snapshotId specified.", "snapshotId")
		return
	}

	s.mu.RLock()
	defer s.mu.RUnlock()

	inst := s.findLocked(w, rt)
	if inst == nil {
		return
	}

	e := inst.byID[rt.snapshotID]
	if e == nil {
		writeError(w, http.StatusNotFound, CodeSnapshotNotFound,
			"No snapshot with ID "+rt.snapshotID+" exists for "+rt.instance+".", rt.snapshotID, rt.instance)
		return
	}

	writeBody(w, http.StatusOK, rt.mediaType(), e.raw)
}

// exists checks, without holding the lock afterwards, that the route's
// instance exists.
func (s *Server) exists(w http.ResponseWriter, rt route) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()

	return s.findLocked(w, rt) != nil
}

// findLocked finds the route's instance, answering 404 itself when the
// project or the instance is unknown. The caller holds s.mu.
func (s *Server) findLocked(w http.ResponseWriter, rt route) *simInstance {
	p := s.projects[rt.projectID]
	if p == nil {
		writeGroupNotFound(w, rt.projectID)
		return nil
	}

	inst := p.instances[instKey{rt.family, rt.instance}]
	if inst != nil {
		return inst
	}

	if rt.family == atlas.Flex {
		writeError(w, http.StatusNotFound, CodeFlexClusterNotFound,
			"Flex cluster "+rt.instance+" cannot be found in group "+rt.projectID+".", rt.instance, rt.projectID)
	} else {
		writeError(w, http.StatusNotFound, CodeServerlessInstanceNotFound,
			"Serverless instance "+rt.instance+" cannot be found in group "+rt.projectID+".", rt.instance, rt.projectID)
	}

	return nil
}

func checkGroupID(w http.ResponseWriter, id string) bool {
	if isHexID(id) {
		return true
	}

	writeError(w, http.StatusBadRequest, CodeInvalidGroupID, "The specified group ID "+id+" is invalid.", id)

	return false
}

func writeGroupNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, CodeGroupNotFound, "No group with ID "+id+" exists.", id)
}

// encodeProject renders a project as the Group schema.
func encodeProject(base string, p *project) []byte {
	b, _ := json.Marshal(map[string]any{
		"clusterCount":              len(p.flex) + len(p.sls),
		"created":                   formatTime(p.created),
		"id":                        p.id,
		"links":                     []link{{Href: base + apiPrefix + "/" + p.id, Rel: "self"}},
		"name":                      p.name,
		"orgId":                     derivedID("org"),
		"withDefaultAlertsSettings": true,
	})

	return b
}

// encodeInstance renders a Flex cluster or Serverless instance description.
func encodeInstance(base, projectID string, inst *simInstance) []byte {
	m := map[string]any{
		"createDate":                   formatTime(inst.created),
		"groupId":                      projectID,
		"id":                           inst.id,
		"mongoDBVersion":               inst.MongoDBVersion,
		"name":                         inst.Name,
		"stateName":                    inst.State,
		"tags":                         []any{},
		"terminationProtectionEnabled": false,
	}

	if inst.Family == atlas.Flex {
		addFlexFields(m, base, projectID, inst)
	} else {
		addServerlessFields(m, base, projectID, inst)
	}

	b, _ := json.Marshal(m)

	return b
}

func addFlexFields(m map[string]any, base, projectID string, inst *simInstance) {
	m["backupSettings"] = map[string]any{"enabled": inst.BackupEnabled}
	m["clusterType"] = "REPLICASET"
	m["connectionStrings"] = map[string]any{"standardSrv": "mongodb+srv://" + inst.Name + ".sim.mongodb.net"}
	m["links"] = []link{{Href: base + apiPrefix + "/" + projectID + "/flexClusters/" + inst.Name, Rel: "self"}}
	m["providerSettings"] = map[string]any{
		"backingProviderName": "AWS",
		"diskSizeGB":          5.0,
		"providerName":        "FLEX",
		"regionName":          "US_EAST_1",
	}
	m["versionReleaseSystem"] = "LTS"
}

func addServerlessFields(m map[string]any, base, projectID string, inst *simInstance) {
	m["connectionStrings"] = map[string]any{"standardSrv": "mongodb+srv://" + inst.Name + ".sim.mongodb.net"}
	m["links"] = []link{{Href: base + apiPrefix + "/" + projectID + "/serverless/" + inst.Name, Rel: "self"}}
	m["providerSettings"] = map[string]any{
		"backingProviderName": "AWS",
		"providerName":        "SERVERLESS",
		"regionName":          "US_EAST_1",
	}
	m["serverlessBackupOptions"] = map[string]any{"serverlessContinuousBackupEnabled": inst.BackupEnabled}
}

// formatTime is RFC 3339 in UTC with a Z, to the second, as Atlas writes.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}
