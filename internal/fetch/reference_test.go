package fetch

// The decoder the exporter used before the single-pass one (page.go,
// snapshot.go), kept as it was as the reference that FuzzDecodePage and
// BenchmarkDecodePage measure the new one against: encoding/json splits the
// envelope into raw results, then unmarshals each result again.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// refPageEnvelope is the paginated list shape shared by every listing.
// totalCount and links are kept raw: they only hint at the listing's end,
// and a page whose hints cannot be read is still a page.
type refPageEnvelope struct {
	Results    *[]json.RawMessage `json:"results"`
	TotalCount json.RawMessage    `json:"totalCount"`
	Links      json.RawMessage    `json:"links"`
}

// refListPage is one decoded list page: its results, each kept as the exact
// bytes Atlas sent, and what it says about the listing's end.
type refListPage struct {
	results []json.RawMessage
	total   int64 // totalCount, or -1 when absent or unreadable
	self    bool  // links hold a self link
	next    bool  // links hold a next link
}

// refDecodeListPage splits a list page into its result objects and reads its
// totalCount and the relations of its links.
func refDecodeListPage(body []byte) (refListPage, error) {
	var env refPageEnvelope
	if err := unmarshalBody(body, &env); err != nil {
		return refListPage{}, err
	}

	if env.Results == nil {
		return refListPage{}, errors.New("response has no results array")
	}

	p := refListPage{results: *env.Results, total: -1}
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

// refFlexSnapshotJSON is FlexBackupSnapshot20241113, the fields the exporter
// keeps.
type refFlexSnapshotJSON struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	ScheduledTime  *string `json:"scheduledTime"`
	StartTime      *string `json:"startTime"`
	FinishTime     *string `json:"finishTime"`
	Expiration     *string `json:"expiration"`
	MongoDBVersion string  `json:"mongoDBVersion"`
}

// refServerlessSnapshotJSON is ServerlessBackupSnapshot, the fields the
// exporter keeps.
type refServerlessSnapshotJSON struct {
	ID               string       `json:"id"`
	Status           string       `json:"status"`
	CreatedAt        *string      `json:"createdAt"`
	ExpiresAt        *string      `json:"expiresAt"`
	FrequencyType    string       `json:"frequencyType"`
	SnapshotType     string       `json:"snapshotType"`
	StorageSizeBytes *json.Number `json:"storageSizeBytes"`
	MongodVersion    string       `json:"mongodVersion"`
}

// refDecodeSnapshot turns one result object of inst's family into a Snapshot.
func refDecodeSnapshot(inst atlas.Instance, raw json.RawMessage) (atlas.Snapshot, error) {
	if !isObject(raw) {
		return atlas.Snapshot{}, errors.New("snapshot is not a JSON object")
	}

	var (
		s   atlas.Snapshot
		err error
	)

	switch inst.Family {
	case atlas.Flex:
		s, err = refDecodeFlexSnapshot(raw)
	case atlas.Serverless:
		s, err = refDecodeServerlessSnapshot(raw)
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

// refDecodeFlexSnapshot maps the Flex shape: startTime (else scheduledTime) is
// when it was taken, expiration is the download link's expiry.
func refDecodeFlexSnapshot(raw json.RawMessage) (atlas.Snapshot, error) {
	var j refFlexSnapshotJSON
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

	times := []refTimeField{
		{"startTime", j.StartTime, &s.TakenAt},
		{"finishTime", j.FinishTime, &s.FinishedAt},
		{"expiration", j.Expiration, &s.DownloadExpiresAt},
	}
	if err := refParseTimes(j.ID, times); err != nil {
		return atlas.Snapshot{}, err
	}

	if s.TakenAt == nil {
		t, err := refParseTime(j.ID, "scheduledTime", j.ScheduledTime)
		if err != nil {
			return atlas.Snapshot{}, err
		}

		s.TakenAt = t
	}

	return s, nil
}

// refDecodeServerlessSnapshot maps the Serverless shape: createdAt is when it
// was taken, expiresAt is the retention expiry.
func refDecodeServerlessSnapshot(raw json.RawMessage) (atlas.Snapshot, error) {
	var j refServerlessSnapshotJSON
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

	times := []refTimeField{
		{"createdAt", j.CreatedAt, &s.TakenAt},
		{"expiresAt", j.ExpiresAt, &s.ExpiresAt},
	}
	if err := refParseTimes(j.ID, times); err != nil {
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

// refTimeField is one optional timestamp of a snapshot and where it goes.
type refTimeField struct {
	field string
	src   *string
	dst   **time.Time
}

// refParseTimes parses each optional timestamp field into its destination.
func refParseTimes(id string, fields []refTimeField) error {
	for _, f := range fields {
		t, err := refParseTime(id, f.field, f.src)
		if err != nil {
			return err
		}

		*f.dst = t
	}

	return nil
}

// refParseTime reads an RFC 3339 timestamp (fractional seconds and offsets
// allowed) as a UTC instant; absent, null or empty means nil.
func refParseTime(id, field string, v *string) (*time.Time, error) {
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

// refDecodeSnapshotPage decodes every result of one page.
func refDecodeSnapshotPage(inst atlas.Instance, num int, results []json.RawMessage) (Page, error) {
	page := Page{Num: num, Snapshots: make([]atlas.Snapshot, 0, len(results))}

	for i, raw := range results {
		s, err := refDecodeSnapshot(inst, raw)
		if err != nil {
			return Page{}, fmt.Errorf("result %d: %w", i+1, err)
		}

		page.Snapshots = append(page.Snapshots, s)
	}

	return page, nil
}

// refDecodePage decodes a snapshot listing page the old way: the envelope,
// then each result.
func refDecodePage(inst atlas.Instance, body []byte) (refListPage, Page, error) {
	lp, err := refDecodeListPage(body)
	if err != nil {
		return refListPage{}, Page{}, err
	}

	page, err := refDecodeSnapshotPage(inst, 1, lp.results)

	return lp, page, err
}
