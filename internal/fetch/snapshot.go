package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// memberKind is how a snapshot member is read: as the Go type that
// encoding/json used to decode it into would take it.
type memberKind uint8

const (
	textMember   memberKind = iota // a string; null leaves it as it was
	timeMember                     // an optional string; null clears it
	numberMember                   // an optional number, or a string holding one
)

// snapshotSchema is the members of one family's snapshot object that the
// exporter keeps. A member's index in names is its slot in snapshotFields.
type snapshotSchema struct {
	family atlas.Family
	names  []string
	kinds  []memberKind
}

// snapshotFields holds the kept members of one snapshot object as read:
// strings unescaped, numbers as sent, nil when absent. It has a slot for
// each member of the widest schema.
type snapshotFields [8][]byte

// Slots of FlexBackupSnapshot20241113.
const (
	flexID = iota
	flexStatus
	flexVersion
	flexScheduled
	flexStart
	flexFinish
	flexExpiration
)

// flexSchema is FlexBackupSnapshot20241113, the members the exporter keeps.
var flexSchema = snapshotSchema{
	family: atlas.Flex,
	names:  []string{"id", "status", "mongoDBVersion", "scheduledTime", "startTime", "finishTime", "expiration"},
	kinds:  []memberKind{textMember, textMember, textMember, timeMember, timeMember, timeMember, timeMember},
}

// Slots of ServerlessBackupSnapshot.
const (
	serverlessID = iota
	serverlessStatus
	serverlessVersion
	serverlessFrequency
	serverlessType
	serverlessCreated
	serverlessExpires
	serverlessSize
)

// serverlessSchema is ServerlessBackupSnapshot, the members the exporter
// keeps.
var serverlessSchema = snapshotSchema{
	family: atlas.Serverless,
	names: []string{"id", "status", "mongodVersion", "frequencyType", "snapshotType",
		"createdAt", "expiresAt", "storageSizeBytes"},
	kinds: []memberKind{textMember, textMember, textMember, textMember, textMember,
		timeMember, timeMember, numberMember},
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

// snapshotDecoder turns the snapshot objects of one instance into
// Snapshots. It hands out their times and sizes from shared blocks, and
// the strings that repeat (status, versions) once each, so a snapshot
// costs one allocation, for its id.
type snapshotDecoder struct {
	inst     atlas.Instance
	schema   *snapshotSchema
	times    []time.Time
	sizes    []int64
	interned map[string]string
}

// newSnapshotDecoder starts decoding snapshots of inst.
func newSnapshotDecoder(inst atlas.Instance) (*snapshotDecoder, error) {
	d := &snapshotDecoder{inst: inst, interned: make(map[string]string)}

	switch inst.Family {
	case atlas.Flex:
		d.schema = &flexSchema
	case atlas.Serverless:
		d.schema = &serverlessSchema
	default:
		return nil, fmt.Errorf("%w: family %q", ErrInvalidArgument, inst.Family)
	}

	return d, nil
}

// newSnapshotPages returns the decoder of the pages of inst's snapshot
// listing. Each Snapshot's Raw is its object as sent, a sub-slice of the
// page body.
func newSnapshotPages(inst atlas.Instance) (*pageDecoder[atlas.Snapshot], error) {
	d, err := newSnapshotDecoder(inst)
	if err != nil {
		return nil, err
	}

	return &pageDecoder[atlas.Snapshot]{item: d.read}, nil
}

// decodeSnapshotBody decodes a body that holds one snapshot of inst.
func decodeSnapshotBody(inst atlas.Instance, body []byte) (atlas.Snapshot, error) {
	d, err := newSnapshotDecoder(inst)
	if err != nil {
		return atlas.Snapshot{}, err
	}

	r := newBodyReader(body)

	s, err := d.read(r)
	if err == nil {
		err = r.end()
	}

	if err != nil {
		return atlas.Snapshot{}, r.fail(err)
	}

	return s, nil
}

// read reads the snapshot object the decoder is about to read.
func (d *snapshotDecoder) read(r *bodyReader) (atlas.Snapshot, error) {
	if kind := r.dec.PeekKind(); kind != '{' {
		if err := r.dec.SkipValue(); err != nil {
			return atlas.Snapshot{}, err
		}

		return atlas.Snapshot{}, errors.New("snapshot is not a JSON object")
	}

	if _, err := r.dec.ReadToken(); err != nil {
		return atlas.Snapshot{}, err
	}

	start := r.dec.InputOffset() - 1

	var f snapshotFields
	if err := r.members(d.schema.names, func(i int) error { return d.readMember(r, &f, i) }); err != nil {
		return atlas.Snapshot{}, err
	}

	end := r.dec.InputOffset()

	s, err := d.build(&f)
	if err != nil {
		return atlas.Snapshot{}, err
	}

	s.ProjectID, s.InstanceName, s.Family = d.inst.ProjectID, d.inst.Name, d.inst.Family
	s.Raw = r.body[start:end:end]

	return s, nil
}

// readMember reads the value of member i of the schema into f.
func (d *snapshotDecoder) readMember(r *bodyReader, f *snapshotFields, i int) error {
	v, kind, err := r.readValue()
	if err != nil {
		return err
	}

	name, want := d.schema.names[i], d.schema.kinds[i]

	switch {
	case kind == 'n':
		if want != textMember {
			f[i] = nil
		}
	case kind == '"' && want == numberMember && !isNumber(v):
		return fmt.Errorf("decode %s snapshot: %s %q is not a number", d.schema.family, name, v)
	case kind == '"', kind == '0' && want == numberMember:
		f[i] = v
	case want == numberMember:
		return fmt.Errorf("decode %s snapshot: %s is %s, not a number", d.schema.family, name, kindName(kind))
	default:
		return fmt.Errorf("decode %s snapshot: %s is %s, not a string", d.schema.family, name, kindName(kind))
	}

	return nil
}

// build maps the members read into a Snapshot. Both schemas keep the id
// in slot 0.
func (d *snapshotDecoder) build(f *snapshotFields) (atlas.Snapshot, error) {
	if len(f[flexID]) == 0 {
		return atlas.Snapshot{}, errors.New("snapshot has no id")
	}

	if d.schema.family == atlas.Flex {
		return d.buildFlex(f)
	}

	return d.buildServerless(f)
}

// buildFlex maps the Flex shape: startTime (else scheduledTime) is when it
// was taken, expiration is the download link's expiry.
func (d *snapshotDecoder) buildFlex(f *snapshotFields) (atlas.Snapshot, error) {
	s := atlas.Snapshot{
		ID:             string(f[flexID]),
		Status:         d.intern(f[flexStatus]),
		State:          flexStates[string(f[flexStatus])],
		MongoDBVersion: d.intern(f[flexVersion]),
	}

	times := []timeSlot{
		{flexStart, &s.TakenAt},
		{flexFinish, &s.FinishedAt},
		{flexExpiration, &s.DownloadExpiresAt},
		{flexScheduled, &s.TakenAt},
	}
	if err := d.parseTimes(s.ID, f, times); err != nil {
		return atlas.Snapshot{}, err
	}

	return s, nil
}

// buildServerless maps the Serverless shape: createdAt is when it was
// taken, expiresAt is the retention expiry.
func (d *snapshotDecoder) buildServerless(f *snapshotFields) (atlas.Snapshot, error) {
	s := atlas.Snapshot{
		ID:             string(f[serverlessID]),
		Status:         d.intern(f[serverlessStatus]),
		State:          serverlessStates[string(f[serverlessStatus])],
		FrequencyType:  d.intern(f[serverlessFrequency]),
		SnapshotType:   d.intern(f[serverlessType]),
		MongoDBVersion: d.intern(f[serverlessVersion]),
	}

	times := []timeSlot{{serverlessCreated, &s.TakenAt}, {serverlessExpires, &s.ExpiresAt}}
	if err := d.parseTimes(s.ID, f, times); err != nil {
		return atlas.Snapshot{}, err
	}

	if size := f[serverlessSize]; size != nil {
		n, err := strconv.ParseInt(string(size), 10, 64)
		if err != nil {
			return atlas.Snapshot{}, fmt.Errorf("snapshot %s: storageSizeBytes %q is not an int64", s.ID, size)
		}

		s.StorageSizeBytes = nextOf(&d.sizes, n)
	}

	return s, nil
}

// timeSlot is one optional timestamp member and where it goes.
type timeSlot struct {
	slot int
	dst  **time.Time
}

// parseTimes parses each timestamp member of f into its destination, in
// order; a slot whose destination is already set by then is skipped, which
// is how startTime wins over scheduledTime.
func (d *snapshotDecoder) parseTimes(id string, f *snapshotFields, times []timeSlot) error {
	for _, ts := range times {
		if *ts.dst != nil {
			continue
		}

		t, err := d.parseTime(id, d.schema.names[ts.slot], f[ts.slot])
		if err != nil {
			return err
		}

		*ts.dst = t
	}

	return nil
}

// parseTime reads an RFC 3339 timestamp (fractional seconds and offsets
// allowed) as a UTC instant; absent, null or blank means nil.
func (d *snapshotDecoder) parseTime(id, field string, v []byte) (*time.Time, error) {
	trimmed := bytes.TrimSpace(v)
	if len(trimmed) == 0 {
		return nil, nil
	}

	t, err := time.Parse(time.RFC3339Nano, string(trimmed))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %s %q is not an RFC 3339 time", id, field, v)
	}

	return nextOf(&d.times, t.UTC()), nil
}

// maxInterned bounds the strings a snapshotDecoder keeps for reuse: the
// values that repeat are a handful, a server sending others should not
// grow the set without end.
const maxInterned = 64

// intern returns s as a string, the same one each time it comes again.
func (d *snapshotDecoder) intern(s []byte) string {
	if v, ok := d.interned[string(s)]; ok {
		return v
	}

	v := string(s)
	if len(d.interned) < maxInterned {
		d.interned[v] = v
	}

	return v
}

// valueBlock is how many values nextOf allocates at once.
const valueBlock = 128

// nextOf stores v in the next free element of block and returns its
// address. A full block is replaced, never grown, so addresses handed out
// stay valid.
func nextOf[T any](block *[]T, v T) *T {
	if len(*block) == cap(*block) {
		*block = make([]T, 0, valueBlock)
	}

	*block = append(*block, v)

	return &(*block)[len(*block)-1]
}
