package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// ParseTargets parses EXPORTER_TARGETS: comma-separated GROUPID or
// GROUPID/NAME, each optionally prefixed with flex: or serverless:.
// Identifiers are checked against Atlas's own patterns, so nothing that
// could change a request path ever reaches a URL. Repeats are dropped.
func ParseTargets(spec string) ([]atlas.Target, error) {
	var targets []atlas.Target
	seen := map[atlas.Target]bool{}

	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}

		t, err := ParseTarget(item)
		if err != nil {
			return nil, fmt.Errorf("item %d %q: %w", i+1, item, err)
		}

		if !seen[t] {
			seen[t] = true
			targets = append(targets, t)
		}
	}

	return targets, nil
}

// ParseTarget parses one item of EXPORTER_TARGETS.
func ParseTarget(item string) (atlas.Target, error) {
	var t atlas.Target

	if prefix, rest, ok := strings.Cut(item, ":"); ok {
		switch atlas.Family(prefix) {
		case atlas.Flex, atlas.Serverless:
			t.Family = atlas.Family(prefix)
			item = rest
		default:
			return atlas.Target{}, fmt.Errorf("unknown family %q: use flex: or serverless:", prefix)
		}
	}

	project, name, hasName := strings.Cut(item, "/")
	if err := atlas.CheckProjectID(project); err != nil {
		return atlas.Target{}, err
	}

	t.ProjectID = project
	if !hasName {
		return t, nil
	}

	if err := atlas.CheckName(name); err != nil {
		return atlas.Target{}, err
	}

	t.Name = name

	return t, nil
}

// Shard selects this process's share of the targets: those whose stable
// hash modulo Count equals Index.
type Shard struct {
	Index int
	Count int
}

// ParseShard parses "i/n" with 0 <= i < n.
func ParseShard(spec string) (Shard, error) {
	is, ns, ok := strings.Cut(spec, "/")
	i, errI := strconv.Atoi(is)
	n, errN := strconv.Atoi(ns)
	if !ok || errI != nil || errN != nil {
		return Shard{}, errors.New("must be i/n, for example 0/1 or 2/4")
	}

	if n < 1 || i < 0 || i >= n {
		return Shard{}, errors.New("needs n >= 1 and 0 <= i < n")
	}

	return Shard{Index: i, Count: n}, nil
}

// Owns reports whether key (an instance's "projectID/name") belongs to this
// shard. The hash is FNV-1a, stable across processes and releases.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}

	h := fnv.New64a()
	h.Write([]byte(key))

	return h.Sum64()%uint64(s.Count) == uint64(s.Index)
}

// String renders the shard as i/n.
func (s Shard) String() string {
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
