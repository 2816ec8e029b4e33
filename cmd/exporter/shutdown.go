package main

import (
	"context"
	"log/slog"
	"os"
	"time"
)

// exitProcess ends the process; tests replace it.
var exitProcess = os.Exit

// watchShutdown gives the process EXPORTER_SHUTDOWN_TIMEOUT to finish once
// ctx is cancelled (SIGTERM or SIGINT): past it, the process exits at once
// with the signal's exit code, before Kubernetes' grace period runs out and
// it is killed without a word. The returned function stops the watch.
func watchShutdown(ctx context.Context, timeout time.Duration, logger *slog.Logger) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})

	go func() {
		defer close(stopped)

		select {
		case <-done:
			return
		case <-ctx.Done():
		}

		t := time.NewTimer(timeout)
		defer t.Stop()

		select {
		case <-done:
		case <-t.C:
			logger.Error("shutdown timeout passed, exiting without waiting further",
				"timeout", timeout.String(), "cause", context.Cause(ctx).Error())
			exitProcess(exitCode(ctx, nil))
		}
	}()

	return func() {
		close(done)
		<-stopped
	}
}
