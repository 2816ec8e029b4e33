// Package pgtemp starts a throwaway PostgreSQL cluster with the server's own
// initdb and pg_ctl: for tests without a database, and for `exporter demo`.
// The cluster listens on a free loopback port with trust authentication,
// runs with fsync off, and lives in a temporary directory removed by Stop.
package pgtemp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNotInstalled reports that no initdb was found; its message says how to
// install PostgreSQL.
var ErrNotInstalled = errors.New("pgtemp: initdb not found on PATH or under /usr/lib/postgresql/*/bin; " +
	"install PostgreSQL (apt-get install postgresql, or brew install postgresql)")

// startAttempts bounds retries when the free port found is taken before the
// server binds it.
const startAttempts = 3

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir    string // temporary directory: data/, the socket, the log
	port   int
	pgCtl  string
	runAs  *account
	logger *slog.Logger
}

// Start creates and starts a cluster. As root, initdb and the server run as
// the postgres user when it exists, else nobody (PostgreSQL refuses root).
func Start(ctx context.Context, logger *slog.Logger) (*Cluster, error) {
	initdb, pgCtl, err := findBinaries()
	if err != nil {
		return nil, err
	}

	runAs, err := unprivileged()
	if err != nil {
		return nil, err
	}

	dir, err := makeDir(runAs)
	if err != nil {
		return nil, err
	}

	c := &Cluster{dir: dir, pgCtl: pgCtl, runAs: runAs, logger: logger}
	if err := c.init(ctx, initdb); err != nil {
		_ = os.RemoveAll(dir)

		return nil, err
	}

	if err := c.startOnFreePort(ctx); err != nil {
		// pg_ctl may have been stopped (a cancelled ctx) after the server
		// itself started: stop whatever runs in the directory, then remove it.
		_ = c.Stop()

		return nil, err
	}

	logger.Debug("throwaway postgres started", "dir", dir, "port", c.port)

	return c, nil
}

// URL is the connection string of the cluster's postgres database, as the
// superuser postgres, without password.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Port is the TCP port the server listens on, on 127.0.0.1.
func (c *Cluster) Port() int {
	return c.port
}

// Stop shuts the server down at once (no checkpoint: the data is thrown
// away) and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := c.run(ctx, c.pgCtl, "stop", "-D", c.dataDir(), "-m", "immediate", "-w")
	if err != nil {
		err = fmt.Errorf("stop throwaway postgres: %w", err)
	}

	if rerr := os.RemoveAll(c.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", c.dir, rerr))
	}

	return err
}

// Restart stops the server the way an operator's restart does (fast
// shutdown: sessions are terminated, a checkpoint is written) and starts it
// again on the same port, with the same data. Clients' connections are cut;
// new ones succeed once Restart returns. It fails if another process took
// the port while the server was down.
func (c *Cluster) Restart(ctx context.Context) error {
	if out, err := c.run(ctx, c.pgCtl, "stop", "-D", c.dataDir(), "-m", "fast", "-w"); err != nil {
		return fmt.Errorf("stop throwaway postgres for a restart: %w: %s", err, lastLines(out, 10))
	}

	if err := c.start(ctx); err != nil {
		return fmt.Errorf("restart throwaway postgres: %w", err)
	}

	c.logger.Debug("throwaway postgres restarted", "dir", c.dir, "port", c.port)

	return nil
}

func (c *Cluster) dataDir() string {
	return filepath.Join(c.dir, "data")
}

func (c *Cluster) logFile() string {
	return filepath.Join(c.dir, "server.log")
}

// init runs initdb: superuser postgres, trust authentication, UTF8, C locale.
func (c *Cluster) init(ctx context.Context, initdb string) error {
	args := []string{
		"-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync",
	}

	if out, err := c.run(ctx, initdb, args...); err != nil {
		return fmt.Errorf("initdb in %s: %w: %s", c.dir, err, lastLines(out, 10))
	}

	return nil
}

// startOnFreePort starts the server on a port just found free, trying again
// when another process took the port in between.
func (c *Cluster) startOnFreePort(ctx context.Context) error {
	var err error
	for range startAttempts {
		c.port, err = freePort()
		if err != nil {
			return err
		}

		if err = c.start(ctx); err == nil || ctx.Err() != nil {
			return err
		}

		c.logger.Debug("throwaway postgres did not start", "port", c.port, "err", err)
	}

	return err
}

func (c *Cluster) start(ctx context.Context) error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port),
		"-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	}, " ")

	_, err := c.run(ctx, c.pgCtl, "start", "-D", c.dataDir(), "-l", c.logFile(), "-w", "-t", "60", "-o", opts)
	if err != nil {
		log, _ := os.ReadFile(c.logFile())

		return fmt.Errorf("start postgres on port %d: %w: %s", c.port, err, lastLines(log, 10))
	}

	return nil
}

// run runs a PostgreSQL program in the cluster directory, as the
// unprivileged account when there is one, and returns its combined output.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")

	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	c.runAs.apply(cmd)

	err := cmd.Run()

	return out.Bytes(), err
}

// findBinaries looks for initdb on PATH, then in the highest version under
// /usr/lib/postgresql; pg_ctl is taken from the same directory when there.
func findBinaries() (initdb, pgCtl string, err error) {
	initdb, err = exec.LookPath("initdb")
	if err != nil {
		initdb = newestInstalled()
	}

	if initdb == "" {
		return "", "", ErrNotInstalled
	}

	pgCtl = filepath.Join(filepath.Dir(initdb), "pg_ctl")
	if _, err := os.Stat(pgCtl); err == nil {
		return initdb, pgCtl, nil
	}

	pgCtl, err = exec.LookPath("pg_ctl")
	if err != nil {
		return "", "", fmt.Errorf("pgtemp: found %s but no pg_ctl beside it or on PATH: %w", initdb, err)
	}

	return initdb, pgCtl, nil
}

// newestInstalled returns /usr/lib/postgresql/<highest>/bin/initdb, or "".
func newestInstalled() string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")

	best, bestVersion := "", -1.0
	for _, m := range matches {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(m))), 64)
		if err == nil && v > bestVersion {
			best, bestVersion = m, v
		}
	}

	return best
}

// makeDir creates the cluster directory under a short base: the Unix socket
// path (dir/.s.PGSQL.<port>) must stay under about 100 bytes.
func makeDir(runAs *account) (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}

	dir, err := os.MkdirTemp(base, "pgtemp-")
	if err != nil {
		return "", fmt.Errorf("pgtemp: create directory: %w", err)
	}

	if err := runAs.own(dir); err != nil {
		_ = os.RemoveAll(dir)

		return "", err
	}

	return dir, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtemp: find a free port: %w", err)
	}
	defer l.Close()

	return l.Addr().(*net.TCPAddr).Port, nil
}

// lastLines returns the last n lines of out, for error messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}

	return strings.Join(lines, "\n")
}
