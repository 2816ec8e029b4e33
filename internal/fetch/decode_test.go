package fetch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// at parses an RFC 3339 time for expectations.
func at(t *testing.T, s string) *time.Time {
	t.Helper()

	v, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)

	v = v.UTC()

	return &v
}

func TestDecodeFlexSnapshot(t *testing.T) {
	t.Parallel()

	inst := flexInstance("prod")
	tests := []struct {
		name string
		raw  string
		want func(t *testing.T) atlas.Snapshot
	}{
		{
			name: "all fields with fractional seconds",
			raw: `{"id":"a1","status":"COMPLETED","scheduledTime":"2025-06-01T00:00:00Z",
				"startTime":"2025-06-01T00:00:01.123456Z","finishTime":"2025-06-01T00:02:00.5Z",
				"expiration":"2025-06-09T00:00:00Z","mongoDBVersion":"8.0.4"}`,
			want: func(t *testing.T) atlas.Snapshot {
				return atlas.Snapshot{
					ID: "a1", Status: "COMPLETED", State: atlas.StateCompleted,
					TakenAt:           at(t, "2025-06-01T00:00:01.123456Z"),
					FinishedAt:        at(t, "2025-06-01T00:02:00.5Z"),
					DownloadExpiresAt: at(t, "2025-06-09T00:00:00Z"),
					MongoDBVersion:    "8.0.4",
				}
			},
		},
		{
			name: "offsets are stored as UTC",
			raw:  `{"id":"a2","status":"RUNNING","startTime":"2025-06-01T02:30:00+02:30"}`,
			want: func(t *testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "a2", Status: "RUNNING", State: atlas.StateInProgress, TakenAt: at(t, "2025-06-01T00:00:00Z")}
			},
		},
		{
			name: "scheduled time when not started",
			raw:  `{"id":"a3","status":"PENDING","scheduledTime":"2025-06-01T00:00:00Z","startTime":null}`,
			want: func(t *testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "a3", Status: "PENDING", State: atlas.StatePending, TakenAt: at(t, "2025-06-01T00:00:00Z")}
			},
		},
		{
			name: "only an id",
			raw:  `{"id":"a4"}`,
			want: func(*testing.T) atlas.Snapshot { return atlas.Snapshot{ID: "a4"} },
		},
		{
			name: "queued and failed",
			raw:  `{"id":"a5","status":"QUEUED"}`,
			want: func(*testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "a5", Status: "QUEUED", State: atlas.StateQueued}
			},
		},
		{
			name: "unknown status is kept without a state",
			raw:  `{"id":"a6","status":"ARCHIVED","newField":{"x":1}}`,
			want: func(*testing.T) atlas.Snapshot { return atlas.Snapshot{ID: "a6", Status: "ARCHIVED"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := decodeSnapshotBody(inst, []byte(tt.raw))
			require.NoError(t, err)

			want := tt.want(t)
			want.ProjectID, want.InstanceName, want.Family = testProject, "prod", atlas.Flex
			want.Raw = json.RawMessage(tt.raw)
			require.Equal(t, want, got)
		})
	}
}

func TestDecodeServerlessSnapshot(t *testing.T) {
	t.Parallel()

	inst := atlas.Instance{ProjectID: testProject, Name: "sls", Family: atlas.Serverless}
	i64 := func(v int64) *int64 { return &v }

	tests := []struct {
		name string
		raw  string
		want func(t *testing.T) atlas.Snapshot
	}{
		{
			name: "all fields",
			raw: `{"id":"b1","createdAt":"2025-01-10T06:00:00.000Z","expiresAt":"2025-02-14T06:00:00Z",
				"frequencyType":"daily","snapshotType":"scheduled","status":"completed",
				"storageSizeBytes":1048576,"mongodVersion":"7.0.14","serverlessInstanceName":"sls","links":[]}`,
			want: func(t *testing.T) atlas.Snapshot {
				return atlas.Snapshot{
					ID: "b1", Status: "completed", State: atlas.StateCompleted,
					TakenAt: at(t, "2025-01-10T06:00:00Z"), ExpiresAt: at(t, "2025-02-14T06:00:00Z"),
					FrequencyType: "daily", SnapshotType: "scheduled",
					StorageSizeBytes: i64(1048576), MongoDBVersion: "7.0.14",
				}
			},
		},
		{
			name: "size above 2^53 is exact",
			raw:  `{"id":"b2","status":"inProgress","storageSizeBytes":9007199254740993}`,
			want: func(*testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "b2", Status: "inProgress", State: atlas.StateInProgress, StorageSizeBytes: i64(9007199254740993)}
			},
		},
		{
			name: "largest int64 size",
			raw:  `{"id":"b3","status":"queued","storageSizeBytes":9223372036854775807}`,
			want: func(*testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "b3", Status: "queued", State: atlas.StateQueued, StorageSizeBytes: i64(9223372036854775807)}
			},
		},
		{
			name: "failed, unknown fields ignored",
			raw:  `{"id":"b4","status":"failed","region":"eu-west-1","tags":[1,2]}`,
			want: func(*testing.T) atlas.Snapshot {
				return atlas.Snapshot{ID: "b4", Status: "failed", State: atlas.StateFailed}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := decodeSnapshotBody(inst, []byte(tt.raw))
			require.NoError(t, err)

			want := tt.want(t)
			want.ProjectID, want.InstanceName, want.Family = testProject, "sls", atlas.Serverless
			want.Raw = json.RawMessage(tt.raw)
			require.Equal(t, want, got)
		})
	}
}

// decodeRawPage reads a list page keeping each result as sent, the way
// discovery reads its pages before decoding each instance.
func decodeRawPage(body []byte) (listPage[json.RawMessage], error) {
	pages := &pageDecoder[json.RawMessage]{item: func(r *bodyReader) (json.RawMessage, error) {
		v, err := r.dec.ReadValue()

		return json.RawMessage(v), err
	}}

	return pages.decode(body)
}

func TestDecodeResultsKeepsExactBytes(t *testing.T) {
	t.Parallel()

	body := `{"results":[ {"id":"c1", "storageSizeBytes": 123456789012345678901234567890, "x": 1.0000000000000001} ,{"id":"c2"}],"totalCount":2}`
	first := `{"id":"c1", "storageSizeBytes": 123456789012345678901234567890, "x": 1.0000000000000001}`

	page, err := decodeRawPage([]byte(body))
	require.NoError(t, err)
	require.Len(t, page.items, 2)
	require.Equal(t, first, string(page.items[0]))
	require.Equal(t, `{"id":"c2"}`, string(page.items[1]))
	require.Equal(t, int64(2), page.total)

	snaps, err := decodeSnapshotPage(flexInstance("prod"), []byte(body))
	require.NoError(t, err)
	require.NoError(t, snaps.itemErr)
	require.Len(t, snaps.items, 2)
	require.Equal(t, first, string(snaps.items[0].Raw))
	require.Equal(t, `{"id":"c2"}`, string(snaps.items[1].Raw))
	require.Equal(t, len(first), cap(snaps.items[0].Raw), "Raw must not reach into the next result")
}

func TestDecodeListPageEndHints(t *testing.T) {
	t.Parallel()

	tests := []struct {
		body       string
		total      int64
		self, next bool
	}{
		{body: `{"results":[],"totalCount":7,"links":[{"rel":"self","href":"x"},{"rel":"next","href":"y"}]}`, total: 7, self: true, next: true},
		{body: `{"results":[],"links":[{"rel":"self"},{"rel":"previous"}]}`, total: -1, self: true},
		{body: `{"results":[],"totalCount":null,"links":null}`, total: -1},
		{body: `{"results":[],"totalCount":"7","links":{"rel":"next"}}`, total: -1},
		{body: `{"results":[],"totalCount":-3,"links":[1,"next",{"rel":7}]}`, total: -1},
		{body: `{"results":[],"totalCount":2.5}`, total: -1},
		{body: `{"results":[],"totalCount":1e3,"links":[null,{"rel":"next"},{"REL":"self"}]}`, total: -1, self: true, next: true},
		{body: `{"results":[],"totalCount":5,"totalCount":null,"links":[{"rel":"next","rel":null}]}`, total: -1, next: true},
		{body: `{"results":[],"totalCount":9223372036854775808,"links":[{"rel":"self"},{"rel":[]}]}`, total: -1},
		{body: `{"results":[],"TotalCount":0,"Links":[{"Rel":"se\u006cf"}],"links":[{"rel":"next"}]}`, total: 0, next: true},
	}
	for _, tt := range tests {
		ref, err := refDecodeListPage([]byte(tt.body))
		require.NoError(t, err, tt.body)
		require.Equal(t, pageHints{tt.total, tt.self, tt.next}, pageHints{ref.total, ref.self, ref.next}, tt.body)

		raw, err := decodeRawPage([]byte(tt.body))
		require.NoError(t, err, tt.body)
		require.Equal(t, pageHints{tt.total, tt.self, tt.next}, raw.pageHints, tt.body)

		snaps, err := decodeSnapshotPage(flexInstance("prod"), []byte(tt.body))
		require.NoError(t, err, tt.body)
		require.Equal(t, pageHints{tt.total, tt.self, tt.next}, snaps.pageHints, tt.body)
	}
}

func TestDecodeSnapshotErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		family atlas.Family
		raw    string
		want   string
	}{
		{"flex without id", atlas.Flex, `{"status":"COMPLETED"}`, "no id"},
		{"serverless without id", atlas.Serverless, `{"id":""}`, "no id"},
		{"size beyond int64", atlas.Serverless, `{"id":"d1","storageSizeBytes":9223372036854775808}`, "not an int64"},
		{"fractional size", atlas.Serverless, `{"id":"d1","storageSizeBytes":1.5}`, "not an int64"},
		{"time without zone", atlas.Serverless, `{"id":"d1","createdAt":"2025-01-10T06:00:00"}`, "createdAt"},
		{"array instead of object", atlas.Flex, `[1]`, "not a JSON object"},
		{"status of the wrong type", atlas.Flex, `{"id":"d1","status":3}`, "decode flex snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			inst := atlas.Instance{ProjectID: testProject, Name: "x", Family: tt.family}
			_, err := decodeSnapshotBody(inst, []byte(tt.raw))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestDecodeInstance(t *testing.T) {
	t.Parallel()

	yes, no := true, false
	tests := []struct {
		name   string
		family atlas.Family
		raw    string
		want   atlas.Instance
	}{
		{
			name:   "flex",
			family: atlas.Flex,
			raw:    `{"name":"prod","stateName":"IDLE","mongoDBVersion":"8.0.4","backupSettings":{"enabled":true},"providerSettings":{}}`,
			want:   atlas.Instance{Name: "prod", State: "IDLE", MongoDBVersion: "8.0.4", BackupEnabled: &yes},
		},
		{
			name:   "flex without backup settings",
			family: atlas.Flex,
			raw:    `{"name":"dev"}`,
			want:   atlas.Instance{Name: "dev"},
		},
		{
			name:   "serverless",
			family: atlas.Serverless,
			raw:    `{"name":"sls","stateName":"UPDATING","mongoDBVersion":"7.0.14","serverlessBackupOptions":{"serverlessContinuousBackupEnabled":false}}`,
			want:   atlas.Instance{Name: "sls", State: "UPDATING", MongoDBVersion: "7.0.14", BackupEnabled: &no},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := decodeInstance(testProject, tt.family, json.RawMessage(tt.raw))
			require.NoError(t, err)

			tt.want.ProjectID, tt.want.Family, tt.want.Raw = testProject, tt.family, json.RawMessage(tt.raw)
			require.Equal(t, tt.want, got)
		})
	}

	_, err := decodeInstance(testProject, atlas.Flex, json.RawMessage(`{"stateName":"IDLE"}`))
	require.ErrorContains(t, err, "no name")
}
