package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wall time on a shared machine moves with whatever else runs; CPU time
// moves much less. The benchmark therefore also counts the CPU each export
// and the ceiling cost: the exporter process's own, and the local
// PostgreSQL server's.

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux the benchmark targets.
const clockTicks = 100

// pgServer reads the CPU time of a PostgreSQL server on this machine.
type pgServer struct {
	pid int // the postmaster; 0 when the server is not local
}

// findServer finds the postmaster of conn's server from its data
// directory's postmaster.pid; a server on another machine (or whose files
// cannot be read) is reported as not local.
func findServer(ctx context.Context, conn *pgx.Conn) pgServer {
	var dir string
	if err := conn.QueryRow(ctx, `SHOW data_directory`).Scan(&dir); err != nil {
		return pgServer{}
	}

	data, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return pgServer{}
	}

	first, _, _ := bytes.Cut(data, []byte("\n"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(first)))
	if err != nil {
		return pgServer{}
	}

	if _, ok := readStat(pid); !ok {
		return pgServer{}
	}

	return pgServer{pid: pid}
}

// local reports whether the server's CPU can be read.
func (s pgServer) local() bool {
	return s.pid != 0
}

// cpu is the server's CPU time so far: the postmaster's own, the children
// it has reaped (backends that ended), and its live children. A child
// reaped during the scan would be counted in neither, so the scan is
// repeated until the reaped-children time holds still across it. The
// difference of two readings is exact for every process that lived in
// between, provided ended backends were reaped before the second one.
func (s pgServer) cpu() time.Duration {
	for {
		before, ok := readStat(s.pid)
		if !ok {
			return 0
		}

		live := time.Duration(0)
		for _, pid := range childPIDs(s.pid) {
			if st, ok := readStat(pid); ok {
				live += st.self
			}
		}

		after, ok := readStat(s.pid)
		if !ok {
			return 0
		}

		if after.children == before.children {
			return after.self + after.children + live
		}
	}
}

// awaitBackendsGone waits until no backend of database db is left but
// except (the benchmark's own connection), and until the postmaster has
// reaped every child that was exiting, so that their CPU is in its
// reaped-children time. It gives up after ten seconds.
func (s pgServer) awaitBackendsGone(ctx context.Context, db string, except uint32) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && s.pending(db, except) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pending counts the postmaster's children that a measurement must wait
// for: the live backends connected to db, except one, and every child that
// is exiting or has exited but is not yet reaped. Such a child has an empty
// command line (a backend's names its database) and its CPU is not yet in
// the postmaster's reaped-children time.
func (s pgServer) pending(db string, except uint32) int {
	n := 0
	for _, pid := range childPIDs(s.pid) {
		if uint32(pid) == except {
			continue
		}

		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err == nil && (len(cmdline) == 0 || bytes.Contains(cmdline, []byte(" "+db+" "))) {
			n++
		}
	}

	return n
}

// procStat is the CPU time of one process, and of its reaped children.
type procStat struct {
	ppid     int
	self     time.Duration // utime + stime
	children time.Duration // cutime + cstime
}

// readStat parses /proc/<pid>/stat.
func readStat(pid int) (procStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}

	// The command name is in parentheses and may hold spaces: the fields
	// that follow it are counted from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, false
	}

	f := strings.Fields(string(data[i+1:]))
	if len(f) < 15 {
		return procStat{}, false
	}

	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	ticks := func(t int64) time.Duration { return time.Duration(t) * time.Second / clockTicks }
	ppid, _ := strconv.Atoi(f[1])

	// f[0] is field 3 (state): utime, stime, cutime, cstime are 14 to 17.
	return procStat{ppid: ppid, self: ticks(n(11) + n(12)), children: ticks(n(13) + n(14))}, true
}

// childPIDs lists the live children of pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}

	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}

		if st, ok := readStat(p); ok && st.ppid == pid {
			out = append(out, p)
		}
	}

	return out
}

// selfCPU is this process's own CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}

	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is an exited child's CPU time.
func childCPU(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}

	return ps.UserTime() + ps.SystemTime()
}

// cpuSplit is the CPU one measurement cost, by who spent it.
type cpuSplit struct {
	Client   time.Duration // the exporter process, or the benchmark's own for the ceiling
	Postgres time.Duration // -1 when the server is not local
}

// Total is the sum, or 0 when PostgreSQL's share is unknown.
func (c cpuSplit) Total() time.Duration {
	if c.Postgres < 0 {
		return 0
	}

	return c.Client + c.Postgres
}

func (c cpuSplit) String() string {
	if c.Postgres < 0 {
		return fmt.Sprintf("%.1f + -", c.Client.Seconds())
	}

	return fmt.Sprintf("%.1f + %.1f", c.Client.Seconds(), c.Postgres.Seconds())
}
