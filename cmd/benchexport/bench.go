package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// bench is one benchmark run.
type bench struct {
	p   params
	out io.Writer
	log io.Writer

	logger  *slog.Logger
	tmp     string
	sim     *simulator
	db      *scratch
	ceiling ceilingResult
	rows    []exportRow   // the last round's exports
	rounds  []roundResult // every round's first export and ceiling
}

// roundResult is one round: a first export into a fresh database and the
// ceiling measured on its rows.
type roundResult struct {
	First   exportRow
	Ceiling ceilingResult
}

// exportRow is one export's measurements.
type exportRow struct {
	Name    string
	Child   childResult
	Run     runRow
	Written [2]int64 // row versions written to snapshots, snapshot_versions
	Changed int      // snapshots changed in the simulator before it
	CPU     cpuSplit
}

func (b *bench) close() {
	if b.sim != nil {
		b.sim.close()
	}

	if b.db != nil {
		b.db.drop(b.p.Keep)

		if b.p.Keep && b.db.cluster == nil {
			fmt.Fprintf(b.out, "kept database %s on %s\n", b.db.name, b.db.describe())
		}
	}

	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
	}
}

func (b *bench) run(ctx context.Context) error {
	b.logger = slog.New(slog.NewTextHandler(b.log, &slog.HandlerOptions{Level: slog.LevelInfo}))

	if err := b.setup(ctx); err != nil {
		return err
	}

	for i := range b.p.Rounds {
		if err := b.round(ctx, i); err != nil {
			return err
		}
	}

	if !b.p.SkipReruns {
		if err := b.reruns(ctx); err != nil {
			return err
		}
	}

	b.report(ctx)

	return nil
}

// round runs the first export and the ceiling; every round after the first
// starts from a fresh database.
func (b *bench) round(ctx context.Context, i int) error {
	if i > 0 {
		if err := b.db.renew(ctx); err != nil {
			return err
		}

		b.logger.Info("fresh database for the next round", "round", i+1, "database", b.db.name)

		b.rows = b.rows[:0]
	}

	if err := b.export(ctx, "first", 0); err != nil {
		return err
	}

	if !b.p.SkipCeiling {
		b.logger.Info("measuring the ceiling", "streams", b.p.Streams)

		var err error
		if b.ceiling, err = measureCeiling(ctx, b.db, b.p.Streams); err != nil {
			return err
		}
	}

	b.rounds = append(b.rounds, roundResult{First: b.rows[0], Ceiling: b.ceiling})

	return nil
}

// setup builds the exporter, starts the simulator and creates the database.
func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "benchexport"); err != nil {
		return fmt.Errorf("make a temporary directory: %w", err)
	}

	bin := b.p.Exporter
	if bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("-exporter: %w", err)
		}
	}

	if bin == "" {
		b.logger.Info("building the exporter")
		if bin, err = buildExporter(ctx, b.tmp); err != nil {
			return err
		}
	}

	b.p.Exporter = bin

	b.logger.Info("populating the simulator", "projects", b.p.Projects, "instances", b.p.Instances,
		"snapshots", b.p.Instances*b.p.Snapshots)
	if b.sim, err = startSimulator(ctx, b.p); err != nil {
		return err
	}

	if b.db, err = newScratch(ctx, b.p.DatabaseURL, b.logger); err != nil {
		return err
	}

	b.logger.Info("scratch database ready", "database", b.db.name)

	return nil
}

func (b *bench) reruns(ctx context.Context) error {
	if err := b.export(ctx, "unchanged rerun", 0); err != nil {
		return err
	}

	changed := b.sim.change(b.p.Changed)
	name := fmt.Sprintf("rerun, %.0f%% changed", b.p.Changed*100)

	return b.export(ctx, name, changed)
}

// export warms the simulator's page cache, runs the exporter once and
// measures it.
func (b *bench) export(ctx context.Context, name string, changed int) error {
	if err := b.sim.warm(ctx, b.p); err != nil {
		return fmt.Errorf("warm the simulator: %w", err)
	}

	mark, err := b.db.xid(ctx)
	if err != nil {
		return err
	}

	b.logger.Info("exporting", "export", name)
	pg0 := b.db.serverCPU()
	child, err := runExporter(ctx, b.p.Exporter, b.p, b.sim, b.db.url)
	if err != nil {
		return err
	}

	row := exportRow{Name: name, Child: child, Changed: changed, CPU: b.db.cpuSince(ctx, pg0, child.CPU)}
	if row.Run, err = b.db.lastRun(ctx); err != nil {
		return err
	}

	if row.Written[0], row.Written[1], err = b.db.written(ctx, mark); err != nil {
		return err
	}

	b.logger.Info("exported", "export", name, "wall", child.Wall.Round(time.Millisecond),
		"seen", row.Run.Seen, "requests", row.Run.Requests, "peak_rss_mib", mib(child.PeakRSS))
	b.rows = append(b.rows, row)

	return nil
}

// minRequests is the fewest requests an export can make: discovery (the
// Flex list and the empty Serverless list of each project) and each
// instance's listing, ceil(n/p) pages, or one for an empty listing.
func (b *bench) minRequests() int {
	pages := func(n int) int {
		return max(1, (n+b.p.PageSize-1)/b.p.PageSize)
	}

	perProject := b.p.Instances / b.p.Projects

	return b.p.Projects*(pages(perProject)+1) + b.p.Instances*pages(b.p.Snapshots)
}

// floor is the latency-bound wall time of n requests.
func (b *bench) floor(n int64) time.Duration {
	return time.Duration(n) * b.p.Latency / time.Duration(b.p.Concurrency)
}

func (b *bench) report(ctx context.Context) {
	b.header(ctx)

	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "export\tsnapshots\twall s\trun s\tsnapshots/s\tx ceiling\tCPU s (exporter + PostgreSQL)\tx ceiling CPU\trequests\tmin requests\twritten snapshots\twritten versions\tpeak RSS MiB\tfloor s\twall/floor\t")
	for _, r := range b.rows {
		b.line(tw, r)
	}
	tw.Flush()

	if !b.p.SkipCeiling {
		fmt.Fprintf(b.out, "\nceiling: %d rows in %.2f s = %.0f rows/s (%d streams of COPY + INSERT current + INSERT history), CPU s (benchmark + PostgreSQL) %s\n",
			b.ceiling.Rows, b.ceiling.Wall.Seconds(), b.ceiling.Rate(), b.p.Streams, b.ceiling.CPU)
	}

	b.roundsReport()
	b.targets()
}

// roundsReport prints each round's first export against its ceiling, and
// the median ratio, when there was more than one round.
func (b *bench) roundsReport() {
	if len(b.rounds) < 2 {
		return
	}

	fmt.Fprintf(b.out, "\nrounds (each a first export into a fresh database, then its ceiling):\n")

	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tfirst export s\tceiling s\tx ceiling\tpeak RSS MiB\t")

	ratios := make([]float64, 0, len(b.rounds))
	for i, r := range b.rounds {
		ratio := "-"
		if !b.p.SkipCeiling {
			x := float64(r.First.Run.Seen) / r.First.Child.Wall.Seconds() / r.Ceiling.Rate()
			ratios = append(ratios, x)
			ratio = fmt.Sprintf("%.2f", x)
		}

		fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%s\t%.1f\t\n", i+1, r.First.Child.Wall.Seconds(),
			r.Ceiling.Wall.Seconds(), ratio, mib(r.First.Child.PeakRSS))
	}
	tw.Flush()

	if len(ratios) > 0 {
		slices.Sort(ratios)
		fmt.Fprintf(b.out, "x ceiling: median %.2f, lowest %.2f, highest %.2f\n",
			median(ratios), ratios[0], ratios[len(ratios)-1])
	}
}

// median is the middle of sorted values, or the mean of the two middle ones.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}

	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func (b *bench) header(ctx context.Context) {
	fmt.Fprintf(b.out, "shape: %d projects, %d flex clusters x %d snapshots = %d; page size %d; concurrency %d; latency %s; rate limit %d/min/project\n",
		b.p.Projects, b.p.Instances, b.p.Snapshots, b.p.Instances*b.p.Snapshots, b.p.PageSize,
		b.p.Concurrency, b.p.Latency, b.p.RateLimit)
	fmt.Fprintf(b.out, "machine: %d cpus, %s, %s, PostgreSQL %s\n",
		runtime.NumCPU(), memTotal(), runtime.Version(), b.db.serverVersion(ctx))
	fmt.Fprintf(b.out, "database server: %s\n\n", b.db.describe())
}

func (b *bench) line(w io.Writer, r exportRow) {
	rate := float64(r.Run.Seen) / r.Child.Wall.Seconds()

	ratio, cpuRatio, floorS, vsFloor := "-", "-", "-", "-"
	if !b.p.SkipCeiling {
		ratio = fmt.Sprintf("%.2f", rate/b.ceiling.Rate())
	}

	if !b.p.SkipCeiling && b.ceiling.CPU.Total() > 0 && r.CPU.Total() > 0 {
		// CPU per snapshot of the ceiling over the export's.
		perRow := b.ceiling.CPU.Total().Seconds() / float64(b.ceiling.Rows)
		cpuRatio = fmt.Sprintf("%.2f", perRow/(r.CPU.Total().Seconds()/float64(r.Run.Seen)))
	}

	if b.p.Latency > 0 {
		f := b.floor(r.Run.Requests)
		floorS = fmt.Sprintf("%.2f", f.Seconds())
		vsFloor = fmt.Sprintf("%.2f", r.Child.Wall.Seconds()/f.Seconds())
	}

	fmt.Fprintf(w, "%s\t%d\t%.2f\t%.2f\t%.0f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%s\t%s\t\n",
		r.Name, r.Run.Seen, r.Child.Wall.Seconds(), r.Run.Duration.Seconds(), rate, ratio,
		r.CPU, cpuRatio, r.Run.Requests, b.minRequests(),
		r.Written[0], r.Written[1], mib(r.Child.PeakRSS), floorS, vsFloor)
}

// targets prints the targets that this run can judge.
func (b *bench) targets() {
	if len(b.rows) == 0 {
		return
	}

	first := b.rows[0]
	fmt.Fprintln(b.out)
	for _, r := range b.rows {
		if r.Run.Status != "succeeded" || r.Run.TargetsFailed > 0 {
			fmt.Fprintf(b.out, "WARNING: %s: run %s, %d targets failed\n", r.Name, r.Run.Status, r.Run.TargetsFailed)
		}
	}

	if len(b.rows) > 1 {
		re := b.rows[1]
		fmt.Fprintf(b.out, "unchanged rerun: %d rows written, %.1fx faster than the first export\n",
			re.Written[0]+re.Written[1], first.Child.Wall.Seconds()/re.Child.Wall.Seconds())
	}

	if len(b.rows) > 2 {
		ch := b.rows[2]
		fmt.Fprintf(b.out, "changed rerun: %d snapshots changed in the simulator, %d updated by the export\n",
			ch.Changed, ch.Run.Updated)
	}
}

func mib(b int64) float64 {
	return float64(b) / (1 << 20)
}

// memTotal is the machine's memory from /proc/meminfo.
func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "memory unknown"
	}

	for line := range strings.Lines(string(data)) {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
		}
	}

	return "memory unknown"
}
