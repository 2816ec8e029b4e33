// Package atlas holds the plain values that the exporter moves from the Atlas
// Administration API into PostgreSQL: targets, instances and snapshots.
//
// It knows neither HTTP nor SQL; internal/fetch produces these values and
// internal/db stores them.
package atlas

import (
	"encoding/json"
	"time"
)

// Family is the Atlas API family that serves an instance's snapshots.
type Family string

// The two snapshot families. Serverless was retired in January 2026 and its
// instances migrated to Flex under the same name.
const (
	Flex       Family = "flex"
	Serverless Family = "serverless"
)

// State is a snapshot status normalised across families.
type State string

// Normalised snapshot states, shared by Flex (PENDING, QUEUED, RUNNING, ...)
// and Serverless (queued, inProgress, ...).
const (
	StatePending    State = "pending"
	StateQueued     State = "queued"
	StateInProgress State = "in_progress"
	StateCompleted  State = "completed"
	StateFailed     State = "failed"
)

// Target is one configured unit of export: a whole project (Name empty) or
// one named instance. Family, when set, pins the API family.
type Target struct {
	ProjectID string
	Name      string
	Family    Family
}

// String renders the target the way EXPORTER_TARGETS spells it.
func (t Target) String() string {
	s := t.ProjectID
	if t.Name != "" {
		s += "/" + t.Name
	}
	if t.Family != "" {
		s = string(t.Family) + ":" + s
	}

	return s
}

// Instance is a Flex cluster or Serverless instance whose snapshots are
// exported. Attributes other than ProjectID, Name and Family are what
// discovery saw and may be empty.
type Instance struct {
	ProjectID      string
	Name           string
	Family         Family
	State          string
	MongoDBVersion string
	BackupEnabled  *bool
	Raw            json.RawMessage
}

// Snapshot is one backup snapshot, normalised from either family's JSON.
// Raw keeps the object exactly as Atlas sent it, so fields added upstream
// and numbers beyond float64 precision are never lost.
type Snapshot struct {
	ID           string
	ProjectID    string
	InstanceName string
	Family       Family

	Status string // as sent by Atlas
	State  State

	TakenAt           *time.Time // Serverless createdAt; Flex startTime, else scheduledTime
	FinishedAt        *time.Time // Flex finishTime
	ExpiresAt         *time.Time // Serverless expiresAt: retention expiry
	DownloadExpiresAt *time.Time // Flex expiration: the download link's expiry

	FrequencyType    string // Serverless only
	SnapshotType     string // Serverless only
	StorageSizeBytes *int64 // Serverless only
	MongoDBVersion   string

	Raw json.RawMessage
}
