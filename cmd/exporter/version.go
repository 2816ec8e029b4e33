package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/mattn/go-isatty"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "exporter %s (commit %s, %s)\n", version, buildCommit(), runtime.Version())

	return err
}

// buildCommit is the stamped commit, else the VCS revision Go recorded.
func buildCommit() string {
	if commit != "" {
		return commit
	}

	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}

	return "unknown"
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd())
}
