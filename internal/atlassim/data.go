package atlassim

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Instance describes a Flex cluster or Serverless instance as the simulator
// lists it.
type Instance struct {
	Name           string
	Family         atlas.Family
	State          string // stateName; IDLE when empty
	MongoDBVersion string // a default per family when empty
	BackupEnabled  bool
}

type project struct {
	id, name  string
	created   time.Time
	instances map[instKey]*simInstance
	flex, sls []*simInstance // listing order: oldest first
}

type instKey struct {
	family atlas.Family
	name   string
}

// simInstance holds one instance's snapshots in listing order, newest first,
// and a cache of encoded listing pages valid while gen is unchanged.
type simInstance struct {
	Instance
	id      string
	created time.Time

	gen   uint64
	byID  map[string]*snapEntry
	order []*snapEntry

	cacheMu  sync.Mutex
	cacheGen uint64
	cache    map[pageKey][]byte
}

// snapEntry is one stored snapshot: its encoded JSON and its sort key.
type snapEntry struct {
	id  string
	at  time.Time
	raw []byte
}

// compareEntries orders newest first, then by id descending, so the order
// is total and stable.
func compareEntries(a, b *snapEntry) int {
	if c := b.at.Compare(a.at); c != 0 {
		return c
	}

	return cmp.Compare(b.id, a.id)
}

// AddProject adds a project, or renames it when it exists. Atlas project
// ids are 24 lower-case hex digits; other ids are stored but the API answers
// 400 for them.
func (s *Server) AddProject(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if p, ok := s.projects[id]; ok {
		p.name = name
		return
	}

	s.addProjectLocked(id, name)
}

func (s *Server) addProjectLocked(id, name string) *project {
	p := &project{id: id, name: name, created: s.now().UTC(), instances: make(map[instKey]*simInstance)}
	s.projects[id] = p
	s.order = append(s.order, p)

	return p
}

// AddInstance adds an IDLE instance with backups enabled and the family's
// default MongoDB version, creating the project when needed.
func (s *Server) AddInstance(projectID, name string, f atlas.Family) {
	s.PutInstance(projectID, Instance{Name: name, Family: f, BackupEnabled: true})
}

// PutInstance adds an instance or replaces its attributes, keeping its
// snapshots. The same name may exist in both families, as it does for a
// Serverless instance migrated to Flex.
func (s *Server) PutInstance(projectID string, in Instance) {
	if in.Family != atlas.Flex && in.Family != atlas.Serverless {
		panic(fmt.Sprintf("atlassim: put instance %s: unknown family %q", in.Name, in.Family))
	}

	in = withDefaults(in)

	s.mu.Lock()
	defer s.mu.Unlock()

	p := s.projects[projectID]
	if p == nil {
		p = s.addProjectLocked(projectID, "project-"+projectID)
	}

	key := instKey{in.Family, in.Name}
	if inst := p.instances[key]; inst != nil {
		inst.Instance = in
		return
	}

	inst := &simInstance{
		Instance: in,
		id:       derivedID("instance/" + projectID + "/" + string(in.Family) + "/" + in.Name),
		created:  s.now().UTC(),
		byID:     make(map[string]*snapEntry),
	}
	p.instances[key] = inst
	if in.Family == atlas.Flex {
		p.flex = append(p.flex, inst)
	} else {
		p.sls = append(p.sls, inst)
	}
}

func withDefaults(in Instance) Instance {
	if in.State == "" {
		in.State = "IDLE"
	}

	if in.MongoDBVersion == "" && in.Family == atlas.Flex {
		in.MongoDBVersion = defaultFlexMongo
	}

	if in.MongoDBVersion == "" {
		in.MongoDBVersion = defaultSlsMongo
	}

	return in
}

// RemoveInstance deletes an instance and its snapshots. The instance is
// named as for PutSnapshot.
func (s *Server) RemoveInstance(projectID, instance string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	p, inst := s.mustInstance(projectID, instance)
	delete(p.instances, instKey{inst.Family, inst.Name})
	p.flex = slices.DeleteFunc(p.flex, func(i *simInstance) bool { return i == inst })
	p.sls = slices.DeleteFunc(p.sls, func(i *simInstance) bool { return i == inst })
}

// PutSnapshot inserts or replaces a snapshot, given as its raw JSON object
// (use json.Number for exact digits). "id" is required. The instance is its
// name, or "flex:NAME" / "serverless:NAME" when both families hold that name
// (a bare name means the Flex one then). The placeholders {groupId}, {name}
// and {clusterName} in string values are replaced by the project id and the
// instance name, which lets FlexSnapshot and ServerlessSnapshot build links.
func (s *Server) PutSnapshot(projectID, instance string, snap map[string]any) {
	id, ok := snap["id"].(string)
	if !ok || id == "" {
		panic(fmt.Sprintf("atlassim: put snapshot in %s/%s: missing string id", projectID, instance))
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	_, inst := s.mustInstance(projectID, instance)
	inst.put(projectID, []map[string]any{snap})
}

// RemoveSnapshot deletes a snapshot; an unknown id is ignored.
func (s *Server) RemoveSnapshot(projectID, instance, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	_, inst := s.mustInstance(projectID, instance)
	e := inst.byID[id]
	if e == nil {
		return
	}

	i, found := slices.BinarySearchFunc(inst.order, e, compareEntries)
	if found {
		inst.order = slices.Delete(inst.order, i, i+1)
	}

	delete(inst.byID, id)
	inst.gen++
}

// Snapshots returns the instance's snapshots in listing order, decoded
// afresh (numbers as json.Number), so callers may keep or change them.
func (s *Server) Snapshots(projectID, instance string) []map[string]any {
	s.mu.RLock()
	defer s.mu.RUnlock()

	_, inst := s.mustInstance(projectID, instance)
	out := make([]map[string]any, 0, len(inst.order))
	for _, e := range inst.order {
		out = append(out, decodeObject(e.raw))
	}

	return out
}

// mustInstance finds an instance by reference; the caller holds s.mu.
func (s *Server) mustInstance(projectID, ref string) (*project, *simInstance) {
	p := s.projects[projectID]
	if p == nil {
		panic(fmt.Sprintf("atlassim: unknown project %q", projectID))
	}

	inst := p.lookup(ref)
	if inst == nil {
		panic(fmt.Sprintf("atlassim: unknown instance %q in project %s", ref, projectID))
	}

	return p, inst
}

// lookup resolves "flex:NAME", "serverless:NAME" or a bare name, Flex first.
func (p *project) lookup(ref string) *simInstance {
	if name, ok := strings.CutPrefix(ref, string(atlas.Flex)+":"); ok {
		return p.instances[instKey{atlas.Flex, name}]
	}

	if name, ok := strings.CutPrefix(ref, string(atlas.Serverless)+":"); ok {
		return p.instances[instKey{atlas.Serverless, name}]
	}

	if inst := p.instances[instKey{atlas.Flex, ref}]; inst != nil {
		return inst
	}

	return p.instances[instKey{atlas.Serverless, ref}]
}

// put encodes and stores snapshots; the caller holds s.mu for writing.
func (inst *simInstance) put(projectID string, snaps []map[string]any) {
	for _, snap := range snaps {
		e := inst.encode(projectID, snap)
		if old := inst.byID[e.id]; old != nil {
			if i, found := slices.BinarySearchFunc(inst.order, old, compareEntries); found {
				inst.order = slices.Delete(inst.order, i, i+1)
			}
		}

		inst.byID[e.id] = e
		if len(snaps) == 1 {
			i, _ := slices.BinarySearchFunc(inst.order, e, compareEntries)
			inst.order = slices.Insert(inst.order, i, e)
		} else {
			inst.order = append(inst.order, e)
		}
	}

	if len(snaps) > 1 {
		slices.SortFunc(inst.order, compareEntries)
	}

	inst.gen++
}

// encode turns a snapshot object into its stored form.
func (inst *simInstance) encode(projectID string, snap map[string]any) *snapEntry {
	raw, err := json.Marshal(snap)
	if err != nil {
		panic(fmt.Sprintf("atlassim: encode snapshot %v: %v", snap["id"], err))
	}

	for _, ph := range []struct{ from, to string }{
		{"{groupId}", projectID}, {"{name}", inst.Name}, {"{clusterName}", inst.Name},
	} {
		if bytes.Contains(raw, []byte(ph.from)) {
			raw = bytes.ReplaceAll(raw, []byte(ph.from), []byte(ph.to))
		}
	}

	return &snapEntry{id: snap["id"].(string), at: sortTime(inst.Family, snap), raw: raw}
}

// sortTime is the time a snapshot is listed by: Serverless createdAt, Flex
// scheduledTime (else startTime). Missing or odd values sort last.
func sortTime(f atlas.Family, snap map[string]any) time.Time {
	keys := []string{"scheduledTime", "startTime"}
	if f == atlas.Serverless {
		keys = []string{"createdAt"}
	}

	for _, k := range keys {
		if v, ok := snap[k].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}

	return time.Time{}
}

func decodeObject(raw []byte) map[string]any {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()

	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		panic("atlassim: decode stored snapshot: " + err.Error())
	}

	return m
}

// derivedID is a stable 24-hex id for a name.
func derivedID(name string) string {
	sum := sha256.Sum256([]byte(name))

	return hex.EncodeToString(sum[:12])
}
