package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// buildExporter compiles ./cmd/exporter into dir.
func buildExporter(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "exporter")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/exporter")
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build ./cmd/exporter (run from the repository root): %w", err)
	}

	return bin, nil
}

// childResult is one exporter process: its wall time, CPU time and peak
// RSS.
type childResult struct {
	Wall    time.Duration
	CPU     time.Duration
	PeakRSS int64 // bytes
	Stdout  string
}

// runExporter runs `exporter run` against the simulator and the scratch
// database and reports its wall time and peak resident memory.
func runExporter(ctx context.Context, bin string, p params, sim *simulator, dbURL string) (childResult, error) {
	cmd := exec.CommandContext(ctx, bin, "run")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"MONGODB_ATLAS_BASE_URL="+sim.run.URL,
		"MONGODB_ATLAS_CLIENT_ID="+simClientID,
		"MONGODB_ATLAS_CLIENT_SECRET="+simClientSecret,
		"MONGODB_ATLAS_PUBLIC_API_KEY=",
		"MONGODB_ATLAS_PRIVATE_API_KEY=",
		"EXPORTER_TARGETS="+sim.targetList(),
		"EXPORTER_CONCURRENCY="+strconv.Itoa(p.Concurrency),
		"EXPORTER_PAGE_SIZE="+strconv.Itoa(p.PageSize),
		"EXPORTER_RATE_LIMIT="+strconv.Itoa(p.RateLimit),
		"EXPORTER_RUN_TIMEOUT=2h",
		"EXPORTER_DB_SCHEMA=atlas_backup",
		"LOG_FORMAT=json",
	)
	if os.Getenv("LOG_LEVEL") == "" {
		cmd.Env = append(cmd.Env, "LOG_LEVEL=warn")
	}

	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if p.ChildStderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, p.ChildStderr)
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return childResult{}, fmt.Errorf("start exporter: %w", err)
	}

	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- watchHWM(cmd.Process.Pid, stop) }()

	err := cmd.Wait()
	res := childResult{Wall: time.Since(start), CPU: childCPU(cmd.ProcessState), Stdout: stdout.String()}
	close(stop)
	res.PeakRSS = <-peak
	if err != nil {
		return res, fmt.Errorf("exporter run: %w\n%s%s", err, stdout.String(), lastBytes(stderr.Bytes(), 2000))
	}

	return res, nil
}

// watchHWM samples the process's VmHWM (peak resident set) until stop is
// closed and returns the last value read. rusage's Maxrss cannot be used:
// a child forked from this large process starts with the parent's pages
// counted, before its exec.
func watchHWM(pid int, stop <-chan struct{}) int64 {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()

	var last int64
	for {
		if v, ok := readHWM(path); ok {
			last = v
		}

		select {
		case <-stop:
			return last
		case <-tick.C:
		}
	}
}

// readHWM reads VmHWM from a /proc status file, in bytes.
func readHWM(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}

	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)

			return kb * 1024, err == nil
		}
	}

	return 0, false
}

func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}

	return b
}
