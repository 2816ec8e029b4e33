// Command exporter keeps a PostgreSQL copy of every MongoDB Atlas backup
// snapshot, with its full history. See the README for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signalContext()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()

	code := exitCode(ctx, err)
	if msg := exitMessage(ctx, err, code); msg != "" {
		fmt.Fprintln(os.Stderr, "exporter:", msg)
	}

	os.Exit(code)
}

// exitMessage is the last line on stderr: the error that ended the process,
// or the signal that interrupted it. A pass whose targets failed has said so
// in its summary already.
func exitMessage(ctx context.Context, err error, code int) string {
	var failures targetsFailedError

	switch {
	case code == exitInterrupted || code == exitTerminated:
		return context.Cause(ctx).Error()
	case err == nil || code == exitOK || errors.As(err, &failures):
		return ""
	default:
		return err.Error()
	}
}

// signalError is the cancellation cause when SIGINT or SIGTERM arrives, so
// the exit code can tell which one (130 or 143).
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "interrupted by " + e.sig.String() }

// Unwrap makes the signal a cancellation to errors.Is, so that work cut
// short by it is recorded as interrupted, not failed, wherever the cause
// (rather than context.Canceled) was passed on.
func (e signalError) Unwrap() error { return context.Canceled }

// signalContext returns a context cancelled, with a signalError cause, by the
// first SIGINT or SIGTERM. A second signal kills the process the default way.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)

	go func() {
		select {
		case sig := <-ch:
			cancel(signalError{sig})
			signal.Stop(ch)
		case <-ctx.Done():
		}
	}()

	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}
