package fetch

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// Atlas error codes the client itself produces or branches on.
const (
	// CodeVersionGone is what Atlas answers, with status 410, for an API
	// version past its sunset date.
	CodeVersionGone = "VERSION_GONE"

	// CodeFlexClusterNotFound marks a named target that the Flex listing
	// does not contain (and, for unpinned targets, Serverless neither).
	CodeFlexClusterNotFound = "FLEX_CLUSTER_NOT_FOUND"

	// CodeServerlessNotFound marks a Serverless-pinned target that the
	// Serverless listing does not contain.
	CodeServerlessNotFound = "SERVERLESS_INSTANCE_NOT_FOUND"
)

// ErrInvalidArgument is returned, wrapped, when a project id, instance name,
// family or snapshot id is malformed; no request is made.
var ErrInvalidArgument = errors.New("invalid argument")

// excerptLen bounds how much of a non-Atlas error body (an HTML page from a
// proxy, say) is kept in an APIError.
const excerptLen = 200

// APIError is an answer from Atlas (or something in front of it) with a
// status outside 2xx. Fields other than Method, Path and Status are empty
// when the body was not an Atlas error document; Detail then holds a short
// excerpt of the body.
type APIError struct {
	Method    string
	Path      string
	Status    int
	ErrorCode string
	Detail    string
	Reason    string
}

// Error renders the request and what Atlas said about it, for example
// "GET /api/atlas/v2/groups/.../snapshots: status 404 FLEX_CLUSTER_NOT_FOUND: ...".
func (e *APIError) Error() string {
	var b strings.Builder

	fmt.Fprintf(&b, "%s %s: status %d", e.Method, e.Path, e.Status)
	if e.ErrorCode != "" {
		b.WriteString(" " + e.ErrorCode)
	}

	if e.Status == http.StatusGone {
		b.WriteString(" (the API version was retired)")
	}

	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	} else if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}

	return b.String()
}

// atlasErrorBody is the JSON Atlas sends with every error status.
type atlasErrorBody struct {
	Error     *int   `json:"error"`
	ErrorCode string `json:"errorCode"`
	Detail    string `json:"detail"`
	Reason    string `json:"reason"`
}

// newAPIError builds the error for a non-2xx answer from its body.
func newAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}

	var doc atlasErrorBody
	if json.Unmarshal(body, &doc) == nil && (doc.Error != nil || doc.ErrorCode != "") {
		e.ErrorCode = doc.ErrorCode
		e.Detail = doc.Detail
		e.Reason = doc.Reason

		return e
	}

	e.Detail = excerpt(body, excerptLen)

	return e
}

// excerpt turns the start of a body into one printable line of at most n
// runes, so an HTML error page from a proxy still says something useful.
func excerpt(body []byte, n int) string {
	var b strings.Builder

	space := false
	count := 0
	for _, r := range string(body) {
		if count >= n {
			b.WriteString("...")

			break
		}

		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}

		if space {
			b.WriteByte(' ')
			count++
			space = false
		}

		b.WriteRune(r)
		count++
	}

	return b.String()
}

// asAPIError finds the APIError in err's chain.
func asAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)

	return e, ok
}

// StatusOf returns the HTTP status of the APIError in err's chain, or 0.
func StatusOf(err error) int {
	if e, ok := asAPIError(err); ok {
		return e.Status
	}

	return 0
}

// ErrorCodeOf returns the Atlas errorCode of the APIError in err's chain, or
// "" when there is none.
func ErrorCodeOf(err error) string {
	if e, ok := asAPIError(err); ok {
		return e.ErrorCode
	}

	return ""
}

// IsNotFound reports whether err carries an Atlas 404.
func IsNotFound(err error) bool {
	return StatusOf(err) == http.StatusNotFound
}

// IsRateLimited reports whether err carries a 429 (after retries ran out).
func IsRateLimited(err error) bool {
	return StatusOf(err) == http.StatusTooManyRequests
}

// IsRetired reports whether err says that a whole endpoint family is gone
// rather than that one resource is missing: a 410 (the API version passed
// its sunset), a 406 (the version is not served at all) or a 404 that names
// no specific resource. Callers treat it as a reason to use the other
// family, never as a reason to mark snapshots removed.
func IsRetired(err error) bool {
	e, ok := asAPIError(err)
	if !ok {
		return false
	}

	switch e.Status {
	case http.StatusGone, http.StatusNotAcceptable:
		return true
	case http.StatusNotFound:
		return endpointMissingCodes[e.ErrorCode]
	default:
		return false
	}
}

// endpointMissingCodes are the 404 error codes that mean "no such endpoint"
// rather than "no such project/instance/snapshot". A 404 without an Atlas
// body is not among them: it may come from a proxy or a wrong base URL, and
// taking it for a retired family would silently drop every Serverless
// instance from discovery.
var endpointMissingCodes = map[string]bool{
	"RESOURCE_NOT_FOUND": true,
	"ENDPOINT_NOT_FOUND": true,
	"NOT_FOUND":          true,
}

// notFound builds the 404 that Resolve returns for a named target that no
// listing contains, so callers record it like any Atlas 404.
func notFound(path, code, detail string) *APIError {
	return &APIError{
		Method:    http.MethodGet,
		Path:      path,
		Status:    http.StatusNotFound,
		ErrorCode: code,
		Detail:    detail,
		Reason:    "Not Found",
	}
}
