package atlassim

import (
	"strings"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// op is one of the operations the simulator serves.
type op int

const (
	opListProjects op = iota + 1
	opListInstances
	opListSnapshots
	opGetSnapshot
)

// route is a parsed API path. family is empty for the project listing.
type route struct {
	kind       op
	family     atlas.Family
	projectID  string
	instance   string
	snapshotID string
}

// mediaType is the only version the route's endpoint accepts.
func (rt route) mediaType() string {
	switch rt.family {
	case atlas.Flex:
		return MediaTypeFlex
	case atlas.Serverless:
		return MediaTypeServerless
	default:
		return MediaTypeProjects
	}
}

// parseRoute maps a path onto one of the seven operations.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, apiPrefix)
	if !ok {
		return route{}, false
	}

	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return route{kind: opListProjects}, true
	}

	if rest[0] != '/' {
		return route{}, false
	}

	return parseGroupRoute(strings.Split(rest[1:], "/"))
}

// parseGroupRoute parses the segments after /groups/.
func parseGroupRoute(seg []string) (route, bool) {
	if len(seg) < 2 || seg[0] == "" {
		return route{}, false
	}

	rt := route{projectID: seg[0]}
	switch seg[1] {
	case "flexClusters":
		rt.family = atlas.Flex
	case "serverless":
		rt.family = atlas.Serverless
	default:
		return route{}, false
	}

	switch {
	case len(seg) == 2:
		rt.kind = opListInstances
	case len(seg) == 5 && seg[2] != "" && seg[3] == "backup" && seg[4] == "snapshots":
		rt.kind, rt.instance = opListSnapshots, seg[2]
	case len(seg) == 6 && seg[2] != "" && seg[3] == "backup" && seg[4] == "snapshots" && seg[5] != "":
		rt.kind, rt.instance, rt.snapshotID = opGetSnapshot, seg[2], seg[5]
	default:
		return route{}, false
	}

	return rt, true
}

// isHexID reports whether s is a 24-character lower-case hexadecimal id.
func isHexID(s string) bool {
	if len(s) != 24 {
		return false
	}

	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}

	return true
}
