package atlassim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error codes the simulator puts in the errorCode field of its Atlas error
// bodies. Tests compare against these rather than against literals.
const (
	CodeResourceNotFound           = "RESOURCE_NOT_FOUND"
	CodeMethodNotAllowed           = "METHOD_NOT_ALLOWED"
	CodeInvalidGroupID             = "INVALID_GROUP_ID"
	CodeInvalidAttribute           = "INVALID_ATTRIBUTE"
	CodeGroupNotFound              = "GROUP_NOT_FOUND"
	CodeFlexClusterNotFound        = "FLEX_CLUSTER_NOT_FOUND"
	CodeServerlessInstanceNotFound = "SERVERLESS_INSTANCE_NOT_FOUND"
	CodeSnapshotNotFound           = "SNAPSHOT_NOT_FOUND"
	CodeInvalidVersion             = "INVALID_VERSION_DATE"
	CodeVersionGone                = "VERSION_GONE"
	CodeRateLimited                = "RATE_LIMITED"
	CodeUnauthorized               = "UNAUTHORIZED"
	CodeExpiredToken               = "EXPIRED_ACCESS_TOKEN"
	CodeUnexpectedError            = "UNEXPECTED_ERROR"
	CodeServiceUnavailable         = "SERVICE_UNAVAILABLE"
)

// apiError is the JSON body Atlas sends with every error status.
type apiError struct {
	Detail     string `json:"detail"`
	Error      int    `json:"error"`
	ErrorCode  string `json:"errorCode"`
	Parameters []any  `json:"parameters"`
	Reason     string `json:"reason"`
}

// ErrorBody renders an Atlas error body for status, the way the simulator
// sends it. Faults use it when they give no body of their own.
func ErrorBody(status int, code, detail string, params ...any) []byte {
	if params == nil {
		params = []any{}
	}

	b, err := json.Marshal(apiError{
		Detail:     detail,
		Error:      status,
		ErrorCode:  code,
		Parameters: params,
		Reason:     http.StatusText(status),
	})
	if err != nil {
		panic("atlassim: encode error body: " + err.Error())
	}

	return b
}

// writeError sends an Atlas error body with the JSON content type Atlas uses
// for errors whatever the requested version.
func writeError(w http.ResponseWriter, status int, code, detail string, params ...any) {
	writeBody(w, status, "application/json", ErrorBody(status, code, detail, params...))
}

// writeBody sends a complete body with an explicit Content-Length.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// defaultFaultCode picks a plausible errorCode for a fault that names only a
// status.
func defaultFaultCode(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return CodeRateLimited
	case status == http.StatusUnauthorized:
		return CodeUnauthorized
	case status == http.StatusNotFound:
		return CodeResourceNotFound
	case status == http.StatusServiceUnavailable:
		return CodeServiceUnavailable
	default:
		return CodeUnexpectedError
	}
}
