package export

import (
	"context"
	"errors"
	"strconv"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/fetch"
)

// Error codes stored in export_run_targets.error_code when Atlas gave none.
const (
	codeInterrupted = "INTERRUPTED"
	codeTimeout     = "TIMEOUT"
	codeFailed      = "EXPORT_FAILED"
	// codeStatementTimeout is a statement that ran past
	// EXPORTER_STATEMENT_TIMEOUT (a merge stuck behind a lock, say).
	codeStatementTimeout = "STATEMENT_TIMEOUT"
)

// classify returns the error code and detail recorded for a target: Atlas's
// own errorCode when the API answered with one.
func classify(err error) (code, detail string) {
	if err == nil {
		return "", ""
	}

	detail = err.Error()

	var apiErr *fetch.APIError
	switch {
	case errors.Is(err, context.Canceled):
		return codeInterrupted, detail
	case errors.Is(err, context.DeadlineExceeded):
		return codeTimeout, detail
	case db.IsStatementTimeout(err):
		return codeStatementTimeout, detail
	case errors.As(err, &apiErr) && apiErr.ErrorCode != "":
		return apiErr.ErrorCode, detail
	case errors.As(err, &apiErr):
		return "HTTP_" + strconv.Itoa(apiErr.Status), detail
	default:
		return codeFailed, detail
	}
}
