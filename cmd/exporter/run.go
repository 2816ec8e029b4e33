package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
)

const usage = `exporter keeps a PostgreSQL copy of every MongoDB Atlas backup snapshot.

Usage:
  exporter run                      apply migrations, export every target once, print a summary
  exporter serve                    export on EXPORTER_SCHEDULE; serve /healthz, /readyz, /metrics
  exporter migrate up|down N|version|force V
                                    manage the schema
  exporter report expiring|freshness|growth|failures|health [--format table|csv|json]
                  [--project ID] [--instance NAME] [--limit N]
                                    print a reporting view
  exporter demo                     export synthetic data from a built-in Atlas simulator
  exporter config                   list every environment variable
  exporter version                  print version, commit and Go version

Configuration is read from the environment: see 'exporter config'.
`

// takesNoArgs lists the commands that are configured by the environment
// alone: an argument there is a mistake (a flag from another tool, a typo),
// not something to ignore.
var takesNoArgs = map[string]bool{"run": true, "serve": true, "demo": true, "config": true, "version": true, "--version": true}

// run dispatches the command line. It returns an error for exitCode to
// turn into the process's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)

		return usageError{"no command given"}
	}

	cmd, rest := args[0], args[1:]
	if takesNoArgs[cmd] && len(rest) > 0 {
		return usageError{fmt.Sprintf("%s takes no arguments, got %q", cmd, strings.Join(rest, " "))}
	}

	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)

		return nil
	case "version", "--version":
		return printVersion(stdout)
	case "config":
		return printConfig(stdout, stderr)
	}

	cfg, err := config.Load()
	if err != nil {
		return err
	}

	logger := newLogger(cfg, stderr)

	switch cmd {
	case "run":
		defer watchShutdown(ctx, cfg.ShutdownTimeout, logger)()

		return runExport(ctx, cfg, logger, stdout)
	case "serve":
		defer watchShutdown(ctx, cfg.ShutdownTimeout, logger)()

		return runServe(ctx, cfg, logger)
	case "migrate":
		return runMigrate(ctx, cfg, logger, rest, stdout)
	case "report":
		return runReport(ctx, cfg, rest, stdout)
	case "demo":
		return runDemo(ctx, cfg, logger, stdout)
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// newLogger builds the process logger: JSON by default, text on a terminal
// or when LOG_FORMAT says so.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load

	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}

	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}

	return slog.New(slog.NewJSONHandler(w, opts))
}
