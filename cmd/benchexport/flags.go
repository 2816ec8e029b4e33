package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// params shape one benchmark run.
type params struct {
	Preset      string
	Projects    int
	Instances   int // in all, spread evenly over the projects
	Snapshots   int // per instance
	Latency     time.Duration
	Concurrency int
	PageSize    int
	RateLimit   int
	Changed     float64 // share of snapshots changed before the third export
	Streams     int     // parallel streams of the ceiling
	Rounds      int     // first export and ceiling, each round in a fresh database
	Exporter    string  // a prebuilt exporter binary; empty builds ./cmd/exporter
	DatabaseURL string  // server to create the scratch database on
	Keep        bool    // keep the scratch database
	SkipCeiling bool
	SkipReruns  bool
	ChildStderr io.Writer // the exporter's log, when -child-log is given
}

// presets are the scenarios.
var presets = map[string]params{
	// 1,000,000 snapshots: 2,000 Flex clusters of 500 over 20 projects.
	"1m": {Projects: 20, Instances: 2000, Snapshots: 500},
	// 100,000 snapshots in the same shape, for the memory comparison.
	"100k": {Projects: 2, Instances: 200, Snapshots: 500},
	// 2,000 single-page clusters behind 50 ms of latency, 8 at once.
	"latency": {Projects: 20, Instances: 2000, Snapshots: 100, Latency: 50 * time.Millisecond, Concurrency: 8},
	// a quick look.
	"small": {Projects: 2, Instances: 20, Snapshots: 500},
}

func parseFlags(args []string, stderr io.Writer) (params, error) {
	fs := flag.NewFlagSet("benchexport", flag.ContinueOnError)
	fs.SetOutput(stderr)

	var p params
	fs.StringVar(&p.Preset, "preset", "", "1m, 100k, latency or small; explicit flags override it")
	fs.IntVar(&p.Projects, "projects", 2, "Atlas projects")
	fs.IntVar(&p.Instances, "instances", 20, "Flex clusters in all, spread over the projects")
	fs.IntVar(&p.Snapshots, "snapshots", 500, "snapshots per cluster")
	fs.DurationVar(&p.Latency, "latency", 0, "simulated API latency per request, with a unit (50ms)")
	fs.IntVar(&p.Concurrency, "concurrency", 4, "EXPORTER_CONCURRENCY")
	fs.IntVar(&p.PageSize, "page-size", 500, "EXPORTER_PAGE_SIZE")
	fs.IntVar(&p.RateLimit, "rate-limit", 100000, "EXPORTER_RATE_LIMIT (per project per minute); raised so the limiter is not what is measured")
	fs.Float64Var(&p.Changed, "changed", 0.05, "share of snapshots changed before the third export")
	fs.IntVar(&p.Streams, "ceiling-streams", runtime.NumCPU(), "parallel COPY+INSERT streams of the ceiling")
	fs.IntVar(&p.Rounds, "rounds", 1, "rounds of first export and ceiling, each in a fresh database; the reruns follow the last")
	fs.StringVar(&p.Exporter, "exporter", "", "exporter binary to run (default: build ./cmd/exporter)")
	fs.StringVar(&p.DatabaseURL, "db", firstEnv("DATABASE_URL", "TEST_DATABASE_URL"),
		"PostgreSQL server for the scratch database (default DATABASE_URL, TEST_DATABASE_URL, else a throwaway cluster)")
	fs.BoolVar(&p.Keep, "keep", false, "keep the (last round's) scratch database afterwards; needs a database server")
	fs.BoolVar(&p.SkipCeiling, "skip-ceiling", false, "do not measure the ceiling")
	fs.BoolVar(&p.SkipReruns, "skip-reruns", false, "first export only")

	childLog := fs.String("child-log", "", "append the exporter's stderr (LOG_LEVEL, GODEBUG pass through) to this file")

	if err := fs.Parse(args); err != nil {
		return p, err
	}

	if fs.NArg() > 0 {
		return p, fmt.Errorf("unexpected argument %q: every setting is a flag (-h lists them)", fs.Arg(0))
	}

	if *childLog != "" {
		f, err := os.OpenFile(*childLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return p, fmt.Errorf("open child log: %w", err)
		}

		p.ChildStderr = f
	}

	if err := applyPreset(fs, &p); err != nil {
		return p, err
	}

	return p, p.check()
}

// applyPreset fills in the preset's values for the flags not given.
func applyPreset(fs *flag.FlagSet, p *params) error {
	if p.Preset == "" {
		return nil
	}

	pre, ok := presets[p.Preset]
	if !ok {
		return fmt.Errorf("unknown preset %q: use %s", p.Preset, strings.Join(slices.Sorted(maps.Keys(presets)), ", "))
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	apply := func(name string, dst *int, v int) {
		if !set[name] && v != 0 {
			*dst = v
		}
	}
	apply("projects", &p.Projects, pre.Projects)
	apply("instances", &p.Instances, pre.Instances)
	apply("snapshots", &p.Snapshots, pre.Snapshots)
	apply("concurrency", &p.Concurrency, pre.Concurrency)

	if !set["latency"] && pre.Latency != 0 {
		p.Latency = pre.Latency
	}

	return nil
}

func (p params) check() error {
	positive := []struct {
		flag  string
		value int
	}{
		{"-projects", p.Projects}, {"-instances", p.Instances}, {"-snapshots", p.Snapshots},
		{"-concurrency", p.Concurrency}, {"-ceiling-streams", p.Streams}, {"-rounds", p.Rounds},
	}
	for _, f := range positive {
		if f.value < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", f.flag, f.value)
		}
	}

	switch {
	case p.Instances%p.Projects != 0:
		return fmt.Errorf("-instances (%d) must divide evenly over -projects (%d)", p.Instances, p.Projects)
	case p.Instances/p.Projects > 500:
		return fmt.Errorf("at most 500 instances per project (one discovery page), got %d", p.Instances/p.Projects)
	case p.PageSize < 1 || p.PageSize > 500:
		return fmt.Errorf("-page-size %d outside 1..500", p.PageSize)
	case p.RateLimit < 1 || p.RateLimit > 100000:
		return fmt.Errorf("-rate-limit %d outside 1..100000 (EXPORTER_RATE_LIMIT's range)", p.RateLimit)
	case p.Latency < 0:
		return fmt.Errorf("-latency %s is negative", p.Latency)
	case p.Changed < 0 || p.Changed > 1:
		return fmt.Errorf("-changed %v outside 0..1", p.Changed)
	case p.Keep && p.DatabaseURL == "":
		return fmt.Errorf("-keep needs a database server (-db, DATABASE_URL or TEST_DATABASE_URL): a throwaway cluster is removed at the end")
	}

	return nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}

	return ""
}
