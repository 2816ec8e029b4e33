package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// decodeSnapshotPage decodes body as the only page of inst's listing.
func decodeSnapshotPage(inst atlas.Instance, body []byte) (listPage[atlas.Snapshot], error) {
	pages, err := newSnapshotPages(inst)
	if err != nil {
		return listPage[atlas.Snapshot]{}, err
	}

	return pages.decode(body)
}

// oddPages are bodies at the edges of what the page decoders accept: seeds
// of FuzzDecodePage and cases of TestDecodePageMatchesReference.
var oddPages = []string{
	``,
	`   `,
	`null`,
	`[{"id":"a"}]`,
	`"results"`,
	`{}`,
	`{"results":null}`,
	`{"results":{}}`,
	`{"results":[]} x`,
	`{"results":[]}}`,
	`{"results":[]} {}`,
	`<html>hello</html>`,
	`{"results":[{"id":"a","status":"COMPL`,
	`{"results":[{"status":"x"}],"totalCount":`,
	`{"results":[{"id":"a","ID":"b","iD":null}]}`,
	`{"results":[{"id":"a\u00e9\"\\b","status":"COMPL\u0045TED"}]}`,
	`{"results":[{"\u0069d":"x","st\u0061tus":"FAILED"}]}`,
	`{"results":[{"id":"a","links":[{"rel":"self"}],"x":{"y":[1,{"z":null}]}}],"links":[{"rel":"next"}],"totalCount":1}`,
	`{"results":[{"id":"a"}],"results":null}`,
	`{"results":[{"nope":1}],"results":[{"id":"b"}]}`,
	`{"results":[{"id":"b"}],"results":[{"nope":1}]}`,
	`{"results":[{"id":"a"}],"results":5,"results":[{"id":"b"}]}`,
	`{"reſults":[{"ıd":"x","id":"y","\u017ftatus":"QUEUED"}],"lin\u212as":[{"rel":"self"}]}`,
	`{"results":[{"id":"a","storageSizeBytes":"12"}]}`,
	`{"results":[{"id":"a","storageSizeBytes":"+12"}]}`,
	`{"results":[{"id":"a","storageSizeBytes":" 12"}]}`,
	`{"results":[{"id":"a","storageSizeBytes":1e3}]}`,
	`{"results":[{"id":"a","storageSizeBytes":-0}]}`,
	`{"results":[{"id":"a","storageSizeBytes":true}]}`,
	`{"results":[{"id":"a","createdAt":5}]}`,
	`{"results":[{"id":"a","startTime":" 2025-06-01T00:00:00Z\n","scheduledTime":"never"}]}`,
	`{"results":[{"id":"a","startTime":"","scheduledTime":"never"}]}`,
	"{\"results\":[{\"id\":\"\\ud800\",\"status\":\"\xff\xe2\x82\"}]}",
	`{"results":[{"id":"a\u0000b"}],"totalCount":-0}`,
	"\n {\r\n\t\"results\" :\t[ \n{ \"id\" : \"w1\" , \"status\" :\"RUNNING\" } ,\n { \"id\":\"w2\" }\n ] , \"totalCount\" : 2 } \n",
}

// deepPages nest as deep as encoding/json allows and one level deeper.
// They are too big to be good fuzz seeds: every mutation of them is slow.
var deepPages = []string{
	`{"results":[{"id":"a"}],"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"results":[{"id":"a"}],"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"results":[{"id":"a","x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `}]}`,
	`{"results":[{"id":"a","x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}]}`,
}

// FuzzDecodePage checks the single-pass page decoder against the two-pass
// encoding/json one it replaced (reference_test.go) on arbitrary bodies:
// the same success or failure, the same retry decision and, on success, the
// same snapshots, Raw bytes and end hints. The discovery reading of a page
// and the reading of a single snapshot body are checked the same way.
func FuzzDecodePage(f *testing.F) {
	for _, family := range []atlas.Family{atlas.Flex, atlas.Serverless} {
		f.Add(benchPage(family, 3), family == atlas.Serverless)
	}

	for _, body := range oddPages {
		f.Add([]byte(body), false)
		f.Add([]byte(body), true)
	}

	f.Fuzz(func(t *testing.T, body []byte, serverless bool) {
		inst := atlas.Instance{ProjectID: testProject, Name: "prod", Family: atlas.Flex}
		if serverless {
			inst.Family = atlas.Serverless
		}

		requireSameAsReference(t, inst, body)
	})
}

func TestDecodePageMatchesReference(t *testing.T) {
	t.Parallel()

	for _, body := range append(oddPages, deepPages...) {
		for _, family := range []atlas.Family{atlas.Flex, atlas.Serverless} {
			requireSameAsReference(t, atlas.Instance{ProjectID: testProject, Name: "prod", Family: family}, []byte(body))
		}
	}
}

// requireSameAsReference decodes body with the new decoders and with the
// reference, and fails t where they differ.
func requireSameAsReference(t *testing.T, inst atlas.Instance, body []byte) {
	t.Helper()

	ref, refErr := refDecodeListPage(body)
	pages, err := newSnapshotPages(inst)
	require.NoError(t, err)

	got, err := pages.decode(body)
	requireSameError(t, body, refErr, err)
	requireNextPageApart(t, pages, body, got)

	raw, err := decodeRawPage(body)
	requireSameError(t, body, refErr, err)

	requireSameSnapshot(t, inst, body)

	if refErr != nil {
		return
	}

	hints := pageHints{ref.total, ref.self, ref.next}
	require.Equal(t, hints, got.pageHints, "hints of %q", body)
	require.Equal(t, hints, raw.pageHints, "hints of %q", body)
	require.Equal(t, len(ref.results), len(raw.items), "results of %q", body)
	for i := range ref.results {
		require.Equal(t, string(ref.results[i]), string(raw.items[i]), "result %d of %q", i+1, body)
	}

	want, refErr := refDecodeSnapshotPage(inst, 1, ref.results)
	requireSameError(t, body, refErr, got.itemErr)
	if refErr != nil {
		return
	}

	require.Len(t, got.items, len(want.Snapshots), "snapshots of %q", body)
	for i := range want.Snapshots {
		require.Equal(t, want.Snapshots[i], got.items[i], "snapshot %d of %q", i+1, body)
	}
}

// requireNextPageApart decodes body again with the decoder that gave
// first, as the next page of the same listing, and fails t if that changes
// first or decodes differently.
func requireNextPageApart(t *testing.T, pages *pageDecoder[atlas.Snapshot], body []byte, first listPage[atlas.Snapshot]) {
	t.Helper()

	kept := slices.Clone(first.items)

	next, err := pages.decode(body)
	if err != nil {
		return
	}

	require.Equal(t, kept, first.items, "body %q: the next page changed this one", body)
	require.Equal(t, first, next, "body %q decoded again", body)
}

// requireSameSnapshot decodes body as a single snapshot (GetSnapshot) the
// new way and the old way, and fails t where they differ.
func requireSameSnapshot(t *testing.T, inst atlas.Instance, body []byte) {
	t.Helper()

	got, err := decodeSnapshotBody(inst, body)

	refErr := unmarshalBody(body, new(json.RawMessage))
	var want atlas.Snapshot
	if refErr == nil {
		want, refErr = refDecodeSnapshot(inst, json.RawMessage(bytes.TrimSpace(body)))
	}

	requireSameError(t, body, refErr, err)
	require.Equal(t, want, got, "snapshot %q", body)
}

// requireSameError fails t unless got fails where want fails, is retried
// where want is, and says the same. The one wording allowed to differ is
// encoding/json's own for a member of the wrong type ("json: cannot
// unmarshal ..."): after what both say before it, the new decoder words
// that its own way.
func requireSameError(t *testing.T, body []byte, want, got error) {
	t.Helper()

	if want == nil || got == nil {
		require.Equal(t, want == nil, got == nil, "body %q: want error %v, got %v", body, want, got)

		return
	}

	require.Equal(t, errors.Is(want, errTruncated), errors.Is(got, errTruncated),
		"body %q: retry after want %v, got %v", body, want, got)

	prefix, _, typeErr := strings.Cut(want.Error(), "json: ")
	if !typeErr {
		require.Equal(t, want.Error(), got.Error(), "body %q", body)

		return
	}

	require.True(t, strings.HasPrefix(got.Error(), prefix), "body %q: want %v, got %v", body, want, got)
}

func TestDecodeSnapshotPage(t *testing.T) {
	t.Parallel()

	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name   string
		family atlas.Family
		body   string
		want   func(t *testing.T) []atlas.Snapshot // Raw and identity left out
	}{
		{
			name:   "escapes in values and names",
			family: atlas.Flex,
			body:   `{"results":[{"id":"a\u00e9\"\\b\/","st\u0061tus":"COMPL\u0045TED","mongoDBVersion":"8.0\t\ud83d\ude00"}]}`,
			want: func(*testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "aé\"\\b/", Status: "COMPLETED", State: atlas.StateCompleted, MongoDBVersion: "8.0\t😀"}}
			},
		},
		{
			name:   "a repeated member counts as its last; null keeps a string and clears a time",
			family: atlas.Flex,
			body: `{"results":[{"id":"first","status":"QUEUED","id":"second","status":null,
				"startTime":"2025-06-01T00:00:00Z","startTime":null,"scheduledTime":"2025-06-02T00:00:00Z"}]}`,
			want: func(t *testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "second", Status: "QUEUED", State: atlas.StateQueued, TakenAt: at(t, "2025-06-02T00:00:00Z")}}
			},
		},
		{
			name:   "a repeated results array counts as its last",
			family: atlas.Flex,
			body:   `{"results":[{"no":"id"},7],"totalCount":1,"results":[{"id":"b1"}]}`,
			want:   func(*testing.T) []atlas.Snapshot { return []atlas.Snapshot{{ID: "b1"}} },
		},
		{
			name:   "nulls are absent",
			family: atlas.Serverless,
			body: `{"results":[{"id":"n1","status":null,"createdAt":null,"expiresAt":null,"frequencyType":null,
				"snapshotType":null,"storageSizeBytes":null,"mongodVersion":null}]}`,
			want: func(*testing.T) []atlas.Snapshot { return []atlas.Snapshot{{ID: "n1"}} },
		},
		{
			name:   "unknown members, nested objects and arrays included, are skipped",
			family: atlas.Flex,
			body: `{"results":[{"links":[{"rel":"self","href":"x"}],"id":"u1","deep":{"a":[1,[2,{"id":"not me"}]],"b":{}},
				"status":"FAILED","tags":[[],{},null,true,-1.5e-3,"s"]}]}`,
			want: func(*testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "u1", Status: "FAILED", State: atlas.StateFailed}}
			},
		},
		{
			name:   "whitespace everywhere",
			family: atlas.Flex,
			body:   "\n {\r\n\t\"results\" :\t[ \n{ \"id\" : \"w1\" , \"status\" :\"RUNNING\" } ,\n { \"id\":\"w2\" }\n ] } \n",
			want: func(*testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "w1", Status: "RUNNING", State: atlas.StateInProgress}, {ID: "w2"}}
			},
		},
		{
			name:   "largest int64 size, and a size sent as a string",
			family: atlas.Serverless,
			body:   `{"results":[{"id":"s1","storageSizeBytes":9223372036854775807},{"id":"s2","storageSizeBytes":"-0"}]}`,
			want: func(*testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "s1", StorageSizeBytes: i64(9223372036854775807)}, {ID: "s2", StorageSizeBytes: i64(0)}}
			},
		},
		{
			name:   "names ignore case as encoding/json's did",
			family: atlas.Flex,
			body:   `{"RESULTS":[{"ID":"c1","Status":"COMPLETED","startTIME":"2025-06-01T00:00:00Z","\u017ftatus":"PENDING"}]}`,
			want: func(t *testing.T) []atlas.Snapshot {
				return []atlas.Snapshot{{ID: "c1", Status: "PENDING", State: atlas.StatePending, TakenAt: at(t, "2025-06-01T00:00:00Z")}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			inst := atlas.Instance{ProjectID: testProject, Name: "prod", Family: tt.family}
			got, err := decodeSnapshotPage(inst, []byte(tt.body))
			require.NoError(t, err)
			require.NoError(t, got.itemErr)

			want := tt.want(t)
			require.Len(t, got.items, len(want))
			for i := range want {
				require.True(t, json.Valid(got.items[i].Raw), "raw %q", got.items[i].Raw)
				require.True(t, bytes.Contains([]byte(tt.body), got.items[i].Raw), "raw %q", got.items[i].Raw)

				want[i].ProjectID, want[i].InstanceName, want[i].Family = testProject, "prod", tt.family
				want[i].Raw = got.items[i].Raw
				require.Equal(t, want[i], got.items[i])
			}

			requireSameAsReference(t, inst, []byte(tt.body))
		})
	}
}

func TestDecodeSnapshotPageErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		family    atlas.Family
		body      string
		want      string
		item      bool // the body is sound, one result is not
		truncated bool
	}{
		{name: "id of the wrong type", family: atlas.Flex, body: `{"results":[{"id":5}]}`,
			want: "result 1: decode flex snapshot: id is a number, not a string", item: true},
		{name: "size beyond int64", family: atlas.Serverless, body: `{"results":[{"id":"a"},{"id":"b","storageSizeBytes":9223372036854775808}]}`,
			want: `result 2: snapshot b: storageSizeBytes "9223372036854775808" is not an int64`, item: true},
		{name: "size in a string that is no number", family: atlas.Serverless, body: `{"results":[{"id":"a","storageSizeBytes":"12 "}]}`,
			want: `result 1: decode serverless snapshot: storageSizeBytes "12 " is not a number`, item: true},
		{name: "bad time in the second result", family: atlas.Flex, body: `{"results":[{"id":"a"},{"id":"b","startTime":"yesterday"}]}`,
			want: `result 2: snapshot b: startTime "yesterday" is not an RFC 3339 time`, item: true},
		{name: "a result that is not an object", family: atlas.Flex, body: `{"results":[{"id":"a"},[]]}`,
			want: "result 2: snapshot is not a JSON object", item: true},
		{name: "empty id", family: atlas.Serverless, body: `{"results":[{"id":"","status":"completed"}]}`,
			want: "result 1: snapshot has no id", item: true},
		{name: "results of the wrong type", family: atlas.Flex, body: `{"results":{"id":"a"}}`,
			want: "decode response: results is an object, not an array"},
		{name: "cut off", family: atlas.Flex, body: `{"results":[{"id":"a"},{"id"`,
			want: "response body cut off after 28 bytes", truncated: true},
		{name: "cut off after a bad result is still cut off, and retried", family: atlas.Flex,
			body: `{"results":[{"id":5}],"totalCount":`, want: "response body cut off", truncated: true},
		{name: "not JSON after a bad result is still not JSON", family: atlas.Flex,
			body: `{"results":[{"id":5}],"totalCount":x,"links":[]}`, want: "response is not JSON (invalid character 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			inst := atlas.Instance{ProjectID: testProject, Name: "prod", Family: tt.family}
			got, err := decodeSnapshotPage(inst, []byte(tt.body))
			if tt.item {
				require.NoError(t, err)
				err = got.itemErr
			}

			require.ErrorContains(t, err, tt.want)
			require.Equal(t, tt.truncated, errors.Is(err, errTruncated))
			requireSameAsReference(t, inst, []byte(tt.body))
		})
	}
}

// TestSnapshotSchemas: every member of a schema has a kind and a slot, and
// the id is in slot 0 of each.
func TestSnapshotSchemas(t *testing.T) {
	t.Parallel()

	for _, schema := range []snapshotSchema{flexSchema, serverlessSchema} {
		require.Equal(t, "id", schema.names[flexID], schema.family)
		require.Equal(t, "id", schema.names[serverlessID], schema.family)
		require.Len(t, schema.kinds, len(schema.names), schema.family)
		require.LessOrEqual(t, len(schema.names), len(snapshotFields{}), schema.family)
	}
}
