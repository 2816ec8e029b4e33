package main

import (
	"context"
	"errors"
	"syscall"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/db"
)

// Exit codes of DESIGN section 2.
const (
	exitOK          = 0
	exitTargets     = 1
	exitUsage       = 2
	exitDatabase    = 3
	exitInterrupted = 130
	exitTerminated  = 143
)

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg + " (see 'exporter help')" }

// databaseError marks a database that cannot be used at all: unreachable,
// refused, or with a dirty migration state.
type databaseError struct{ err error }

func (e databaseError) Error() string { return e.err.Error() }
func (e databaseError) Unwrap() error { return e.err }

// targetsFailedError says some targets failed; each was logged already.
type targetsFailedError struct{ failed, total int }

func (e targetsFailedError) Error() string {
	return "some targets failed"
}

// exitCode maps the outcome of run to the process exit code, in one place.
func exitCode(ctx context.Context, err error) int {
	if errors.Is(err, errServeStopped) {
		return exitOK
	}

	var sig signalError
	if errors.As(context.Cause(ctx), &sig) {
		if sig.sig == syscall.SIGTERM {
			return exitTerminated
		}

		return exitInterrupted
	}

	var (
		cfgErr   *config.Error
		usage    usageError
		dbErr    databaseError
		failures targetsFailedError
	)

	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &cfgErr), errors.As(err, &usage),
		errors.As(err, new(*db.ConfigError)), errors.Is(err, db.ErrBadMigrateArgs):
		return exitUsage
	case errors.As(err, &dbErr):
		return exitDatabase
	case errors.As(err, &failures):
		return exitTargets
	default:
		return exitTargets
	}
}
