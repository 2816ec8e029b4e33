package fetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// readerOptions let jsontext accept the bodies encoding/json accepts:
// repeated member names and invalid UTF-8.
var readerOptions = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
}

// bodyReader reads one response body. The values it returns are sub-slices
// of the body, not copies: readBody allocates each body afresh and nothing
// writes to it afterwards, so they stay as Atlas sent them.
type bodyReader struct {
	body []byte
	dec  *jsontext.Decoder
}

// newBodyReader starts reading body. A bytes.Buffer makes the decoder
// work on body itself rather than on a copy.
func newBodyReader(body []byte) *bodyReader {
	return &bodyReader{body: body, dec: jsontext.NewDecoder(bytes.NewBuffer(body), readerOptions...)}
}

// pageHints is what a list page says about where its listing ends.
type pageHints struct {
	total int64 // totalCount, or -1 when absent or unreadable
	self  bool  // links hold a self link
	next  bool  // links hold a next link
}

// listPage is one decoded list page: its items and its hints. itemErr is
// set when the body is sound JSON but one of its results could not be
// decoded; items then stop short of that result.
type listPage[T any] struct {
	items   []T
	itemErr error
	pageHints
}

// itemReader reads one element of a results array, which the decoder is
// about to read. Errors of its own are about the element; errors from the
// decoder are about the body (see isSyntaxError).
type itemReader[T any] func(r *bodyReader) (T, error)

// pageDecoder decodes the pages of one listing, one page at a time. It
// gathers each page's items in a buffer it keeps from page to page and
// hands out an exact-size copy, so that past the first page the items of
// a page cost one allocation, however many there are.
type pageDecoder[T any] struct {
	item    itemReader[T]
	scratch []T
}

// decode reads a list page body in one pass with a jsontext.Decoder: each
// element of its results array through item as it streams by, its
// totalCount and the relations of its links. (encoding/json would split
// the envelope into raw results first, then scan each result again.)
//
// It reads what encoding/json read, which FuzzDecodePage checks against
// the old two-pass decoder kept in reference_test.go:
//
//   - member names match as encoding/json matches struct fields: exactly,
//     else ignoring case (Atlas only sends the exact case, but matching
//     the old way costs nothing on the exact path);
//   - a member sent twice counts as its last occurrence; null leaves a
//     string as it was and clears an optional value;
//   - invalid UTF-8 in a string reads as U+FFFD;
//   - every error first goes through encoding/json's reading of the body
//     (see bodyReader.fail), so what is retried (a body cut off) and the
//     words of each error are as before.
func (d *pageDecoder[T]) decode(body []byte) (listPage[T], error) {
	r := newBodyReader(body)
	e := envelope[T]{page: listPage[T]{items: d.scratch[:0], pageHints: pageHints{total: -1}}}

	err := readEnvelope(r, &e, d.item)
	if err == nil {
		err = r.end()
	}

	p := e.page
	p.items = d.handOut(e.page.items)

	if err != nil {
		return listPage[T]{}, r.fail(err)
	}

	return p, nil
}

// handOut returns a copy of the items gathered in the buffer, never nil,
// and keeps the buffer, emptied so that it holds on to no body, for the
// next page.
func (d *pageDecoder[T]) handOut(items []T) []T {
	out := append(make([]T, 0, len(items)), items...)

	clear(items)
	d.scratch = items[:0]

	return out
}

// envelope is what readEnvelope has found so far.
type envelope[T any] struct {
	page    listPage[T]
	found   bool  // a results array, not cleared by a later null
	typeErr error // the first member of a type encoding/json would refuse
}

// envelopeNames are the envelope members read; the others are skipped.
var envelopeNames = []string{"results", "totalCount", "links"}

// readEnvelope reads the top-level object of a list page into e.
func readEnvelope[T any](r *bodyReader, e *envelope[T], item itemReader[T]) error {
	if kind := r.dec.PeekKind(); kind != '{' {
		return r.skipTop(kind)
	}

	if _, err := r.dec.ReadToken(); err != nil {
		return err
	}

	err := r.members(envelopeNames, func(i int) error { return e.read(r, i, item) })

	switch {
	case err != nil:
		return err
	case e.typeErr != nil:
		return e.typeErr
	case !e.found:
		return errors.New("response has no results array")
	}

	return nil
}

// skipTop skips a top-level value of the given kind, not an object, and
// says what is wrong with it: null has no results, anything else is of
// the wrong type.
func (r *bodyReader) skipTop(kind jsontext.Kind) error {
	if err := r.dec.SkipValue(); err != nil {
		return err
	}

	if kind == 'n' {
		return errors.New("response has no results array")
	}

	return fmt.Errorf("decode response: top level is %s, not an object", kindName(kind))
}

// read reads the value of envelope member i of envelopeNames.
func (e *envelope[T]) read(r *bodyReader, i int, item itemReader[T]) error {
	var err error

	switch envelopeNames[i] {
	case "results":
		err = e.readResults(r, item)
	case "totalCount":
		e.page.total, err = r.readTotal()
	case "links":
		e.page.self, e.page.next, err = r.readLinks()
	}

	return err
}

// readResults reads the results member. Only its last occurrence counts;
// a null one clears the results.
func (e *envelope[T]) readResults(r *bodyReader, item itemReader[T]) error {
	switch kind := r.dec.PeekKind(); kind {
	case '[':
	case 'n':
		e.found, e.page.items, e.page.itemErr = false, e.page.items[:0], nil

		return r.dec.SkipValue()
	default:
		if e.typeErr == nil {
			e.typeErr = fmt.Errorf("decode response: results is %s, not an array", kindName(kind))
		}

		return r.dec.SkipValue()
	}

	e.found, e.page.items, e.page.itemErr = true, e.page.items[:0], nil

	return readItems(r, &e.page, item)
}

// readItems reads the elements of the array about to be read into p. The
// first element item cannot take is kept as p's itemErr, and the elements
// after it are only checked as JSON.
func readItems[T any](r *bodyReader, p *listPage[T], item itemReader[T]) error {
	if _, err := r.dec.ReadToken(); err != nil {
		return err
	}

	depth := r.dec.StackDepth()
	for i := 1; r.dec.PeekKind() != ']'; i++ {
		v, err := item(r)
		switch {
		case err == nil:
			p.items = append(p.items, v)
		case isSyntaxError(err):
			return err
		default:
			p.itemErr = fmt.Errorf("result %d: %w", i, err)

			return r.skipOut(depth)
		}
	}

	_, err := r.dec.ReadToken()

	return err
}

// readTotal reads totalCount: a count that is not a non-negative int64 is
// -1, never an error.
func (r *bodyReader) readTotal() (int64, error) {
	v, err := r.dec.ReadValue()
	if err != nil || v.Kind() != '0' {
		return -1, err
	}

	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return -1, nil
	}

	return n, nil
}

// linkNames are the members of a links entry that are read.
var linkNames = []string{"rel"}

// readLinks reads links for a self and a next relation. Links that
// encoding/json could not have read as a list of {"rel": string} count as
// none at all, never as an error.
func (r *bodyReader) readLinks() (self, next bool, err error) {
	if r.dec.PeekKind() != '[' {
		return false, false, r.dec.SkipValue()
	}

	if _, err := r.dec.ReadToken(); err != nil {
		return false, false, err
	}

	sound := true
	for r.dec.PeekKind() != ']' {
		rel, ok, err := r.readLink()
		if err != nil {
			return false, false, err
		}

		sound = sound && ok
		self = self || string(rel) == "self"
		next = next || string(rel) == "next"
	}

	if _, err := r.dec.ReadToken(); err != nil {
		return false, false, err
	}

	return self && sound, next && sound, nil
}

// readLink reads one links entry for its rel. ok is false for an entry
// that is neither an object nor null, or whose rel is not a string.
func (r *bodyReader) readLink() (rel []byte, ok bool, err error) {
	if kind := r.dec.PeekKind(); kind != '{' {
		return nil, kind == 'n', r.dec.SkipValue()
	}

	if _, err := r.dec.ReadToken(); err != nil {
		return nil, false, err
	}

	ok = true
	err = r.members(linkNames, func(int) error {
		s, kind, err := r.readValue()
		switch {
		case kind == '"':
			rel = s
		case kind != 'n':
			ok = false
		}

		return err
	})

	return rel, ok, err
}

// members reads the members of the object just opened, up to and with its
// closing brace: read gets the value of each member whose name is one of
// names (by index), the others are skipped.
func (r *bodyReader) members(names []string, read func(i int) error) error {
	for r.dec.PeekKind() != '}' {
		name, err := r.dec.ReadValue()
		if err != nil {
			return err
		}

		if i := matchName(names, name); i >= 0 {
			err = read(i)
		} else {
			err = r.dec.SkipValue()
		}

		if err != nil {
			return err
		}
	}

	_, err := r.dec.ReadToken()

	return err
}

// matchName returns the index in names (all ASCII) of the member name
// quoted, a JSON string as sent, or -1. Like encoding/json it matches
// exactly, else ignoring case as bytes.EqualFold does.
func matchName(names []string, quoted []byte) int {
	name := quoted[1 : len(quoted)-1]
	for i, n := range names {
		if string(name) == n {
			return i
		}
	}

	// A name sent as plain ASCII is one byte a character, so it can only
	// fold to a name of the same length; any other is unescaped first.
	short := isPlainASCII(name)
	if !short {
		name = unquote(quoted)
	}

	for i, n := range names {
		if (!short || len(name) == len(n)) && bytes.EqualFold(name, []byte(n)) {
			return i
		}
	}

	return -1
}

// isPlainASCII reports whether the inside of a JSON string is ASCII
// without escapes.
func isPlainASCII(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf || c == '\\' {
			return false
		}
	}

	return true
}

// readValue reads the next value: a string as its unescaped bytes, any
// other kind as its JSON text.
func (r *bodyReader) readValue() ([]byte, jsontext.Kind, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, 0, err
	}

	kind := v.Kind()
	if kind == '"' {
		return unquote(v), kind, nil
	}

	return v, kind, nil
}

// unquote returns the bytes a JSON string (as sent, valid) stands for:
// a sub-slice of it when there is nothing to unescape.
func unquote(quoted []byte) []byte {
	s := quoted[1 : len(quoted)-1]
	if isPlain(s) {
		return s
	}

	// The string was read as valid, so the only error left to report is
	// invalid UTF-8, which is replaced by U+FFFD as encoding/json does.
	u, _ := jsontext.AppendUnquote(nil, quoted)

	return u
}

// isPlain reports whether the inside of a JSON string is its own value:
// no escapes and valid UTF-8.
func isPlain(s []byte) bool {
	return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s)
}

// isNumber reports whether s is one JSON number and nothing else, which
// encoding/json requires of a string it decodes into a json.Number.
func isNumber(s []byte) bool {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	if len(s) == 0 || (s[0] != '-' && !digit(s[0])) || !digit(s[len(s)-1]) {
		return false // IsValid would allow whitespace around the number
	}

	return jsontext.Value(s).IsValid()
}

// kindName names a JSON kind for an error message.
func kindName(kind jsontext.Kind) string {
	switch kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	}

	return kind.String()
}

// skipOut reads on until the decoder is out of the array opened at depth,
// its closing bracket included.
func (r *bodyReader) skipOut(depth int) error {
	for r.dec.StackDepth() >= depth {
		var err error
		if kind := r.dec.PeekKind(); kind == '}' || kind == ']' {
			_, err = r.dec.ReadToken()
		} else {
			err = r.dec.SkipValue()
		}

		if err != nil {
			return err
		}
	}

	return nil
}

// errTrailing marks JSON after the top-level value; encoding/json then
// says what follows (see fail).
var errTrailing = errors.New("data after the top-level value")

// end checks that nothing but whitespace follows the top-level value.
func (r *bodyReader) end() error {
	_, err := r.dec.ReadToken()
	switch {
	case err == nil:
		return errTrailing
	case errors.Is(err, io.EOF):
		return nil
	}

	return err
}

// isSyntaxError reports whether err is about the body's JSON, as opposed
// to what the JSON says.
func isSyntaxError(err error) bool {
	var syn *jsontext.SyntacticError

	return errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, errTrailing)
}

// fail turns an error met while reading the body into the one to return.
// Whatever the error, a body encoding/json cannot read fails as it always
// has, through unmarshalBody: a body cut off is errTruncated and retried,
// anything else is "not JSON", in the same words. encoding/json only runs
// here, for a body that failed.
func (r *bodyReader) fail(err error) error {
	if jerr := unmarshalBody(r.body, new(json.RawMessage)); jerr != nil {
		return jerr
	}

	if isSyntaxError(err) {
		return fmt.Errorf("response is not JSON (%w): %q", err, excerpt(r.body, 60))
	}

	return err
}
