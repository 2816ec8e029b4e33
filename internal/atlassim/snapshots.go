package atlassim

import (
	"fmt"
	"time"
)

const (
	linkBase          = "https://cloud.mongodb.com" + apiPrefix + "/{groupId}"
	defaultFlexMongo  = "8.0.12"
	defaultSlsMongo   = "7.0.21"
	flexLinkRetention = 8 * 24 * time.Hour
	hourlyRetention   = 48 * time.Hour
)

// SnapshotID returns a 24 lower-case hex id shaped like a MongoDB ObjectId:
// the time in seconds, then n. Equal inputs give equal ids.
func SnapshotID(t time.Time, n uint64) string {
	return fmt.Sprintf("%08x%016x", uint32(t.Unix()), n)
}

// FlexSnapshot builds a Flex snapshot object with every documented field
// that applies to status (PENDING, QUEUED, RUNNING, FAILED, COMPLETED): a
// snapshot not yet started has no startTime, one not finished no
// finishTime. Its self link names the project and cluster through
// placeholders that PutSnapshot fills in.
func FlexSnapshot(id string, scheduled time.Time, status string) map[string]any {
	m := map[string]any{
		"id":             id,
		"scheduledTime":  formatTime(scheduled),
		"expiration":     formatTime(scheduled.Add(flexLinkRetention)),
		"status":         status,
		"mongoDBVersion": defaultFlexMongo,
		"links":          selfLink("/flexClusters/{name}/backup/snapshots/" + id),
	}

	start := scheduled.Add(45 * time.Second)
	switch status {
	case "RUNNING":
		m["startTime"] = formatTime(start)
	case "FAILED", "COMPLETED":
		m["startTime"] = formatTime(start)
		m["finishTime"] = formatTime(start.Add(3 * time.Minute))
	}

	return m
}

// ServerlessSnapshot builds a Serverless snapshot object with every
// documented field: an hourly scheduled snapshot kept for two days. Change
// frequencyType, snapshotType or expiresAt in the map for other kinds. The
// instance name and self link are filled in by PutSnapshot.
func ServerlessSnapshot(id string, created time.Time, status string, sizeBytes int64) map[string]any {
	return map[string]any{
		"id":                     id,
		"createdAt":              formatTime(created),
		"expiresAt":              formatTime(created.Add(hourlyRetention)),
		"frequencyType":          "hourly",
		"snapshotType":           "scheduled",
		"status":                 status,
		"storageSizeBytes":       sizeBytes,
		"mongodVersion":          defaultSlsMongo,
		"serverlessInstanceName": "{clusterName}",
		"links":                  selfLink("/serverless/{clusterName}/backup/snapshots/" + id),
	}
}

func selfLink(path string) []any {
	return []any{map[string]any{"href": linkBase + path, "rel": "self"}}
}
