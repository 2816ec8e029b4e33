package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// errTruncated marks a body that ended in the middle of its JSON: the
// connection was cut, so asking again may help.
var errTruncated = errors.New("response body cut off")

// pageEnvelope is the paginated list shape shared by every listing.
// totalCount and links are kept raw: they only hint at the listing's end,
// and a page whose hints cannot be read is still a page.
type pageEnvelope struct {
	Results    *[]json.RawMessage `json:"results"`
	TotalCount json.RawMessage    `json:"totalCount"`
	Links      json.RawMessage    `json:"links"`
}

// listPage is one decoded list page: its results, each kept as the exact
// bytes Atlas sent, and what it says about the listing's end.
type listPage struct {
	results []json.RawMessage
	total   int64 // totalCount, or -1 when absent or unreadable
	self    bool  // links hold a self link
	next    bool  // links hold a next link
}

// decodeListPage splits a list page into its result objects and reads its
// totalCount and the relations of its links.
func decodeListPage(body []byte) (listPage, error) {
	var env pageEnvelope
	if err := unmarshalBody(body, &env); err != nil {
		return listPage{}, err
	}

	if env.Results == nil {
		return listPage{}, errors.New("response has no results array")
	}

	p := listPage{results: *env.Results, total: -1}
	if err := json.Unmarshal(env.TotalCount, &p.total); err != nil || p.total < 0 {
		p.total = -1
	}

	var links []struct {
		Rel string `json:"rel"`
	}
	if json.Unmarshal(env.Links, &links) == nil {
		for _, l := range links {
			p.self = p.self || l.Rel == "self"
			p.next = p.next || l.Rel == "next"
		}
	}

	return p, nil
}

// unmarshalBody decodes a response body, telling a body that was cut off
// (retryable) from one that is simply not JSON.
func unmarshalBody(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}

	var syn *json.SyntaxError
	if errors.As(err, &syn) && syn.Offset >= int64(len(bytes.TrimRight(body, " \t\r\n"))) {
		return fmt.Errorf("%w after %d bytes", errTruncated, len(body))
	}

	if errors.As(err, &syn) {
		return fmt.Errorf("response is not JSON (%s): %q", syn, excerpt(body, 60))
	}

	return fmt.Errorf("decode response: %w", err)
}

// flexSnapshotJSON is FlexBackupSnapshot20241113, the fields the exporter
// keeps.
type flexSnapshotJSON struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	ScheduledTime  *string `json:"scheduledTime"`
	StartTime      *string `json:"startTime"`
	FinishTime     *string `json:"finishTime"`
	Expiration     *string `json:"expiration"`
	MongoDBVersion string  `json:"mongoDBVersion"`
}

// serverlessSnapshotJSON is ServerlessBackupSnapshot, the fields the
// exporter keeps.
type serverlessSnapshotJSON struct {
	ID               string       `json:"id"`
	Status           string       `json:"status"`
	CreatedAt        *string      `json:"createdAt"`
	ExpiresAt        *string      `json:"expiresAt"`
	FrequencyType    string       `json:"frequencyType"`
	SnapshotType     string       `json:"snapshotType"`
	StorageSizeBytes *json.Number `json:"storageSizeBytes"`
	MongodVersion    string       `json:"mongodVersion"`
}

// flexStates and serverlessStates normalise each family's status values.
var (
	flexStates = map[string]atlas.State{
		"PENDING":   atlas.StatePending,
		"QUEUED":    atlas.StateQueued,
		"RUNNING":   atlas.StateInProgress,
		"COMPLETED": atlas.StateCompleted,
		"FAILED":    atlas.StateFailed,
	}
	serverlessStates = map[string]atlas.State{
		"queued":     atlas.StateQueued,
		"inProgress": atlas.StateInProgress,
		"completed":  atlas.StateCompleted,
		"failed":     atlas.StateFailed,
	}
)

// decodeSnapshot turns one result object of inst's family into a Snapshot.
func decodeSnapshot(inst atlas.Instance, raw json.RawMessage) (atlas.Snapshot, error) {
	if !isObject(raw) {
		return atlas.Snapshot{}, errors.New("snapshot is not a JSON object")
	}

	var (
		s   atlas.Snapshot
		err error
	)

	switch inst.Family {
	case atlas.Flex:
		s, err = decodeFlexSnapshot(raw)
	case atlas.Serverless:
		s, err = decodeServerlessSnapshot(raw)
	default:
		return atlas.Snapshot{}, fmt.Errorf("%w: family %q", ErrInvalidArgument, inst.Family)
	}

	if err != nil {
		return atlas.Snapshot{}, err
	}

	s.ProjectID = inst.ProjectID
	s.InstanceName = inst.Name
	s.Family = inst.Family
	s.Raw = raw

	return s, nil
}

// decodeFlexSnapshot maps the Flex shape: startTime (else scheduledTime) is
// when it was taken, expiration is the download link's expiry.
func decodeFlexSnapshot(raw json.RawMessage) (atlas.Snapshot, error) {
	var j flexSnapshotJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return atlas.Snapshot{}, fmt.Errorf("decode flex snapshot: %w", err)
	}

	if j.ID == "" {
		return atlas.Snapshot{}, errors.New("snapshot has no id")
	}

	s := atlas.Snapshot{
		ID:             j.ID,
		Status:         j.Status,
		State:          flexStates[j.Status],
		MongoDBVersion: j.MongoDBVersion,
	}

	times := []timeField{
		{"startTime", j.StartTime, &s.TakenAt},
		{"finishTime", j.FinishTime, &s.FinishedAt},
		{"expiration", j.Expiration, &s.DownloadExpiresAt},
	}
	if err := parseTimes(j.ID, times); err != nil {
		return atlas.Snapshot{}, err
	}

	if s.TakenAt == nil {
		t, err := parseTime(j.ID, "scheduledTime", j.ScheduledTime)
		if err != nil {
			return atlas.Snapshot{}, err
		}

		s.TakenAt = t
	}

	return s, nil
}

// decodeServerlessSnapshot maps the Serverless shape: createdAt is when it
// was taken, expiresAt is the retention expiry.
func decodeServerlessSnapshot(raw json.RawMessage) (atlas.Snapshot, error) {
	var j serverlessSnapshotJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return atlas.Snapshot{}, fmt.Errorf("decode serverless snapshot: %w", err)
	}

	if j.ID == "" {
		return atlas.Snapshot{}, errors.New("snapshot has no id")
	}

	s := atlas.Snapshot{
		ID:             j.ID,
		Status:         j.Status,
		State:          serverlessStates[j.Status],
		FrequencyType:  j.FrequencyType,
		SnapshotType:   j.SnapshotType,
		MongoDBVersion: j.MongodVersion,
	}

	times := []timeField{
		{"createdAt", j.CreatedAt, &s.TakenAt},
		{"expiresAt", j.ExpiresAt, &s.ExpiresAt},
	}
	if err := parseTimes(j.ID, times); err != nil {
		return atlas.Snapshot{}, err
	}

	if j.StorageSizeBytes != nil {
		n, err := j.StorageSizeBytes.Int64()
		if err != nil {
			return atlas.Snapshot{}, fmt.Errorf("snapshot %s: storageSizeBytes %q is not an int64", j.ID, *j.StorageSizeBytes)
		}

		s.StorageSizeBytes = &n
	}

	return s, nil
}

// timeField is one optional timestamp of a snapshot and where it goes.
type timeField struct {
	field string
	src   *string
	dst   **time.Time
}

// parseTimes parses each optional timestamp field into its destination.
func parseTimes(id string, fields []timeField) error {
	for _, f := range fields {
		t, err := parseTime(id, f.field, f.src)
		if err != nil {
			return err
		}

		*f.dst = t
	}

	return nil
}

// parseTime reads an RFC 3339 timestamp (fractional seconds and offsets
// allowed) as a UTC instant; absent, null or empty means nil.
func parseTime(id, field string, v *string) (*time.Time, error) {
	if v == nil || strings.TrimSpace(*v) == "" {
		return nil, nil
	}

	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(*v))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %s %q is not an RFC 3339 time", id, field, *v)
	}

	t = t.UTC()

	return &t, nil
}

// isObject reports whether raw holds a JSON object (not null, not a scalar).
func isObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")

	return len(trimmed) > 0 && trimmed[0] == '{'
}

// flexClusterJSON is FlexClusterDescription20241113, the fields discovery
// keeps.
type flexClusterJSON struct {
	Name           string `json:"name"`
	StateName      string `json:"stateName"`
	MongoDBVersion string `json:"mongoDBVersion"`
	BackupSettings *struct {
		Enabled *bool `json:"enabled"`
	} `json:"backupSettings"`
}

// serverlessInstanceJSON is ServerlessInstanceDescription, the fields
// discovery keeps.
type serverlessInstanceJSON struct {
	Name                    string `json:"name"`
	StateName               string `json:"stateName"`
	MongoDBVersion          string `json:"mongoDBVersion"`
	ServerlessBackupOptions *struct {
		ContinuousBackupEnabled *bool `json:"serverlessContinuousBackupEnabled"`
	} `json:"serverlessBackupOptions"`
}

// decodeInstance turns one Flex cluster or Serverless instance description
// into an Instance of projectID.
func decodeInstance(projectID string, family atlas.Family, raw json.RawMessage) (atlas.Instance, error) {
	if !isObject(raw) {
		return atlas.Instance{}, errors.New("instance is not a JSON object")
	}

	inst := atlas.Instance{ProjectID: projectID, Family: family, Raw: raw}

	switch family {
	case atlas.Flex:
		var j flexClusterJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return atlas.Instance{}, fmt.Errorf("decode flex cluster: %w", err)
		}

		inst.Name, inst.State, inst.MongoDBVersion = j.Name, j.StateName, j.MongoDBVersion
		if j.BackupSettings != nil {
			inst.BackupEnabled = j.BackupSettings.Enabled
		}
	case atlas.Serverless:
		var j serverlessInstanceJSON
		if err := json.Unmarshal(raw, &j); err != nil {
			return atlas.Instance{}, fmt.Errorf("decode serverless instance: %w", err)
		}

		inst.Name, inst.State, inst.MongoDBVersion = j.Name, j.StateName, j.MongoDBVersion
		if j.ServerlessBackupOptions != nil {
			inst.BackupEnabled = j.ServerlessBackupOptions.ContinuousBackupEnabled
		}
	default:
		return atlas.Instance{}, fmt.Errorf("%w: family %q", ErrInvalidArgument, family)
	}

	if inst.Name == "" {
		return atlas.Instance{}, errors.New("instance has no name")
	}

	return inst, nil
}
