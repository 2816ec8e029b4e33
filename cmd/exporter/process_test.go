package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
)

// Process-level test helpers: the exporter binary built once by TestMain,
// run as a child process against the Atlas simulator and a test database.
// Every child's output, and what the exporter served or sent (/metrics,
// Pushgateway pushes), is kept and checked for credentials and tokens.

// Build stamps of the binary under test, checked by `exporter version`.
const (
	procVersion = "v0.0.0-proctest"
	procCommit  = "c0ffee0proctest"
)

// procChildTimeout bounds one child process; a run against the simulator
// takes well under a second.
const procChildTimeout = 2 * time.Minute

// procBinary is the path of the exporter binary TestMain built.
var procBinary string

// procLeakMarkers are prefixes no output may ever contain: every simulator
// access token starts with simtok_, and service account secrets (the demo's
// and the tests') with mdb_sa_sk_.
var procLeakMarkers = []string{"simtok_", "mdb_sa_sk_"}

// procState is what the suite learned across tests: the credentials it
// handed out, the simulators that issued tokens, and every child's output.
var procState struct {
	sync.Mutex
	secrets []string
	sims    []*atlassim.Server
	outputs []procOutput
}

// procOutput is one child's output, with what it ran, for the final sweep.
type procOutput struct {
	test, args, stdout, stderr string
}

// procBuild compiles the exporter into dir, with the race detector when the
// tests have it, and stamps version and commit.
func procBuild(dir string) (string, error) {
	bin := filepath.Join(dir, "exporter")
	args := []string{"build", "-o", bin, "-ldflags", "-X main.version=" + procVersion + " -X main.commit=" + procCommit}
	if procRace {
		args = append(args, "-race")
	}

	cmd := exec.Command(procGoTool(), append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the exporter: %w\n%s", err, out)
	}

	return bin, nil
}

// procGoTool is the go command of the toolchain running the tests.
func procGoTool() string {
	gotool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gotool); err == nil {
		return gotool
	}

	return "go"
}

// procSweep checks every output of the suite against every credential and
// token it knows, and returns one line per leak.
func procSweep() []string {
	procState.Lock()
	defer procState.Unlock()

	secrets := procSecretsLocked()

	var leaks []string
	for _, out := range procState.outputs {
		for _, what := range procLeaksIn(out.stdout+out.stderr, secrets) {
			leaks = append(leaks, fmt.Sprintf("%s: exporter %s: output contains %s", out.test, out.args, what))
		}
	}

	return leaks
}

// procSecretsLocked is every credential handed out and every token the
// simulators issued so far; procState must be locked.
func procSecretsLocked() []string {
	secrets := slices.Clone(procState.secrets)
	for _, sim := range procState.sims {
		secrets = append(secrets, sim.IssuedTokens()...)
	}

	return secrets
}

// procLeaksIn names what of secrets and the leak markers text contains,
// without repeating a secret in full.
func procLeaksIn(text string, secrets []string) []string {
	var found []string
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			found = append(found, fmt.Sprintf("a secret (%.6s...)", s))
		}
	}

	for _, m := range procLeakMarkers {
		if strings.Contains(text, m) {
			found = append(found, "the marker "+m)
		}
	}

	return found
}

// procRegisterSecrets adds credentials that no output may contain.
func procRegisterSecrets(secrets ...string) {
	procState.Lock()
	defer procState.Unlock()

	procState.secrets = append(procState.secrets, secrets...)
}

// procCreds is one test's Atlas credentials: fresh and random, so that a
// leak check cannot pass by accident.
type procCreds struct {
	clientID, clientSecret string
	publicKey, privateKey  string
}

func procNewCreds() procCreds {
	c := procCreds{
		clientID:     "mdb_sa_id_" + procRandomHex(12),
		clientSecret: "mdb_sa_sk_" + procRandomHex(24),
		publicKey:    "pk" + procRandomHex(4),
		privateKey:   procRandomHex(4) + "-" + procRandomHex(2) + "-" + procRandomHex(2) + "-" + procRandomHex(6),
	}
	procRegisterSecrets(c.clientID, c.clientSecret, c.publicKey, c.privateKey)

	return c
}

func procRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}

// procSim is the Atlas simulator on a loopback port, accepting creds.
type procSim struct {
	*atlassim.Server
	url string
}

// procStartSim serves a simulator that accepts both kinds of creds until the
// test ends, and registers it for the token leak checks.
func procStartSim(t *testing.T, creds procCreds) *procSim {
	t.Helper()

	srv := atlassim.New(atlassim.Config{
		ClientID: creds.clientID, ClientSecret: creds.clientSecret,
		PublicKey: creds.publicKey, PrivateKey: creds.privateKey,
	})
	running, err := srv.Start("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, running.Close()) })

	procState.Lock()
	procState.sims = append(procState.sims, srv)
	procState.Unlock()

	return &procSim{Server: srv, url: running.URL}
}

// procEnv is a child's environment. The child never inherits the test's
// own environment (no stray DATABASE_URL or PG* variables), only these.
type procEnv map[string]string

// procBaseEnv is what every child gets: a path, a home, UTC, debug logs so
// that the leak checks see as much as the exporter can write, and no
// one-second pause of the race detector at exit (a race still exits 66).
func procBaseEnv() procEnv {
	env := procEnv{"TZ": "UTC", "LOG_LEVEL": "debug", "GORACE": "atexit_sleep_ms=0"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}

	return env
}

// with returns a copy of env with overrides applied; an override to the
// empty string removes the variable.
func (env procEnv) with(overrides procEnv) procEnv {
	out := maps.Clone(env)
	for k, v := range overrides {
		if v == "" {
			delete(out, k)
			continue
		}

		out[k] = v
	}

	return out
}

func (env procEnv) list() []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}

	return out
}

// procExportEnv is the environment of an export against sim into dbURL with
// the service account of creds; targets is EXPORTER_TARGETS.
func procExportEnv(sim *procSim, creds procCreds, dbURL, targets string) procEnv {
	return procBaseEnv().with(procEnv{
		"DATABASE_URL":                dbURL,
		"MONGODB_ATLAS_BASE_URL":      sim.url,
		"MONGODB_ATLAS_CLIENT_ID":     creds.clientID,
		"MONGODB_ATLAS_CLIENT_SECRET": creds.clientSecret,
		"EXPORTER_TARGETS":            targets,
	})
}

// procResult is how a child ended.
type procResult struct {
	code           int
	stdout, stderr string
}

// procRun runs the exporter with args in env and waits for it. Its output is
// checked at once for every credential and token known so far, kept for the
// final sweep, and shown when the test fails.
func procRun(t *testing.T, env procEnv, args ...string) procResult {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), procChildTimeout)
	defer cancel()

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, procBinary, args...)
	cmd.Env = env.list()
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("start exporter %s: %v", strings.Join(args, " "), err)
	}

	res := procResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	procKeep(t, args, res)

	var exitErr *exec.ExitError
	if ctx.Err() != nil || (err != nil && !errors.As(err, &exitErr)) {
		t.Fatalf("exporter %s did not finish: %v (context: %v)", strings.Join(args, " "), err, ctx.Err())
	}

	return res
}

// procKeep records a child's output, checks it for leaks now, and logs it
// if the test fails.
func procKeep(t *testing.T, args []string, res procResult) {
	t.Helper()

	out := procOutput{test: t.Name(), args: strings.Join(args, " "), stdout: res.stdout, stderr: res.stderr}

	procState.Lock()
	procState.outputs = append(procState.outputs, out)
	secrets := procSecretsLocked()
	procState.Unlock()

	for _, leak := range procLeaksIn(res.stdout+res.stderr, secrets) {
		t.Errorf("exporter %s: output contains %s", out.args, leak)
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter %s: exit %d\nstdout:\n%s\nstderr:\n%s", out.args, res.code, res.stdout, res.stderr)
		}
	})
}

// procKeepText records what the exporter served or sent rather than
// wrote (a /metrics body, a Pushgateway push), named by what, for the final
// sweep, and checks it for leaks now.
func procKeepText(t *testing.T, what, text string) {
	t.Helper()

	procState.Lock()
	procState.outputs = append(procState.outputs, procOutput{test: t.Name(), args: what, stdout: text})
	secrets := procSecretsLocked()
	procState.Unlock()

	for _, leak := range procLeaksIn(text, secrets) {
		t.Errorf("%s: contains %s", what, leak)
	}
}

// procOpenDB opens a test database for the test's own queries.
func procOpenDB(t *testing.T, url string) *sql.DB {
	t.Helper()

	conn, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	return conn
}

// procRowVersions maps every row of snapshots and snapshot_versions to its
// xmin: a row that was inserted or rewritten gets a new one.
func procRowVersions(t *testing.T, conn *sql.DB) map[string]string {
	t.Helper()

	rows, err := conn.QueryContext(t.Context(), `
		SELECT 'snapshots/' || id, xmin::text FROM atlas_backup.snapshots
		UNION ALL
		SELECT 'snapshot_versions/' || id || '/' || version, xmin::text FROM atlas_backup.snapshot_versions`)
	require.NoError(t, err)
	defer rows.Close()

	out := map[string]string{}
	for rows.Next() {
		var key, xmin string
		require.NoError(t, rows.Scan(&key, &xmin))
		out[key] = xmin
	}
	require.NoError(t, rows.Err())

	return out
}

// procCount runs a counting query.
func procCount(t *testing.T, conn *sql.DB, query string, args ...any) int {
	t.Helper()

	var n int
	require.NoError(t, conn.QueryRowContext(t.Context(), query, args...).Scan(&n))

	return n
}

// procRequireNoRequests checks that the child never reached the simulator,
// not even its token endpoint.
func procRequireNoRequests(t *testing.T, sim *procSim) {
	t.Helper()

	require.Empty(t, sim.Requests(), "requests reached the simulator")
	require.Zero(t, sim.TokenRequests(), "token requests reached the simulator")
}
