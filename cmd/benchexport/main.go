// Command benchexport measures the exporter against the machine's own
// ceiling: it starts the Atlas simulator with a chosen shape and a fresh
// scratch database, runs the real exporter binary as a child process for a
// first export, an unchanged rerun and a rerun with a share of snapshots
// changed, and measures in the same run, on the same rows, how fast
// PostgreSQL takes them through COPY and set-based INSERTs alone.
//
// Run it from the repository root (it builds ./cmd/exporter):
//
//	go run ./cmd/benchexport -preset 1m
//
// See docs/PERFORMANCE.md for the presets and the results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// A closed terminal (SIGHUP) must clean up like Ctrl-C: the scratch
	// database, the build directory and a throwaway cluster.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()

	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case interrupted:
		fmt.Fprintln(os.Stderr, "benchexport: interrupted; scratch database and temporary files removed")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchexport:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs the benchmark.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}

	b := &bench{p: p, out: stdout, log: stderr}
	defer b.close()

	return b.run(ctx)
}
