package main

import (
	"database/sql"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlassim"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/config"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/dbtest"
	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/migrations"
)

// TestMain builds the exporter once, runs the tests, stops dbtest's
// throwaway cluster, and finally checks every child's output of the whole
// suite for credentials and access tokens.
func TestMain(m *testing.M) {
	os.Exit(procMain(m))
}

func procMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "exporter-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create build folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	procBinary, err = procBuild(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	code := dbtest.Run(m)

	if leaks := procSweep(); len(leaks) > 0 {
		for _, l := range leaks {
			fmt.Fprintln(os.Stderr, "leak:", l)
		}
		fmt.Fprintln(os.Stderr, "FAIL: exporter output holds credentials or access tokens")

		return 1
	}

	return code
}

// The simulated organisation of the export tests: project A with a Flex
// cluster and a Serverless instance, project B with one Flex cluster.
const (
	procProjectA   = "5f1a2b3c4d5e6f7a8b9c0d1e"
	procProjectB   = "65aa11bb22cc33dd44ee55ff"
	procProjectNew = "0123456789abcdef01234567" // unknown to the simulator
	procFlexA      = "orders-flex"
	procSlsA       = "ledger-sls"
	procFlexB      = "prod-eu"
	procPageSize   = "4"
)

// procT0 is the newest snapshot time of the simulated organisation.
var procT0 = time.Date(2026, time.March, 1, 6, 0, 0, 0, time.UTC)

// The QUEUED snapshot of procFlexA (its fifth, see procPopulate).
var (
	procQueuedAt       = procT0.Add(-4 * 24 * time.Hour)
	procQueuedSnapshot = atlassim.SnapshotID(procQueuedAt, 1004)
)

// procSnapshotCounts is how many snapshots each instance holds.
var procSnapshotCounts = map[string]int{procFlexA: 10, procSlsA: 7, procFlexB: 5}

// procTargets covers discovery (a whole project) and a pinned instance.
var procTargets = procProjectA + ",flex:" + procProjectB + "/" + procFlexB

func procTotalSnapshots() int {
	n := 0
	for _, c := range procSnapshotCounts {
		n += c
	}

	return n
}

// procPopulate fills sim with the organisation above, in several pages per
// instance at procPageSize.
func procPopulate(sim *procSim) {
	flexStatus := []string{"COMPLETED", "COMPLETED", "FAILED", "COMPLETED", "QUEUED"}

	sim.AddInstance(procProjectA, procFlexA, atlas.Flex)
	sim.AddInstance(procProjectA, procSlsA, atlas.Serverless)
	sim.AddInstance(procProjectB, procFlexB, atlas.Flex)

	for _, inst := range []struct {
		project, name string
		family        atlas.Family
		seq           uint64
	}{
		{procProjectA, procFlexA, atlas.Flex, 1000},
		{procProjectA, procSlsA, atlas.Serverless, 2000},
		{procProjectB, procFlexB, atlas.Flex, 3000},
	} {
		for i := range procSnapshotCounts[inst.name] {
			at := procT0.Add(-time.Duration(i) * 24 * time.Hour)
			id := atlassim.SnapshotID(at, inst.seq+uint64(i))
			snap := atlassim.FlexSnapshot(id, at, flexStatus[i%len(flexStatus)])
			if inst.family == atlas.Serverless {
				snap = atlassim.ServerlessSnapshot(id, at, "completed", int64(1<<20*(i+1)))
			}

			sim.PutSnapshot(inst.project, string(inst.family)+":"+inst.name, snap)
		}
	}
}

// TestBadConfiguration: every class of bad configuration or usage exits 2
// before any I/O, naming the variable (and the value, when not secret).
func TestBadConfiguration(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	dbURL := dbtest.NewURL(t) // usable, so that a check that let a bad value through would go on to export

	dir := t.TempDir()
	fileSecret := "mdb_sa_sk_" + procRandomHex(16)
	procRegisterSecrets(fileSecret)
	secretFile := filepath.Join(dir, "client-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600))
	missingFile := filepath.Join(dir, "no-such-file")
	urlPassword := "urlpw" + procRandomHex(8)
	procRegisterSecrets(urlPassword)
	emptyFile := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(emptyFile, nil, 0o600))
	passwordOnlyFile := filepath.Join(dir, "database-url")
	require.NoError(t, os.WriteFile(passwordOnlyFile, []byte(urlPassword+"\n"), 0o600))

	longName := strings.Repeat("a", 65)

	tests := []struct {
		name  string
		args  []string // default: run
		env   procEnv  // overrides of a complete, valid run environment
		want  []string // what stderr must name
		avoid []string // what stderr must not contain
	}{
		{name: "concurrency not a number", env: procEnv{"EXPORTER_CONCURRENCY": "four"}, want: []string{"EXPORTER_CONCURRENCY", "four"}},
		{name: "page size not a number", env: procEnv{"EXPORTER_PAGE_SIZE": "1e3"}, want: []string{"EXPORTER_PAGE_SIZE", "1e3"}},
		{name: "max retries not a number", env: procEnv{"EXPORTER_MAX_RETRIES": "many"}, want: []string{"EXPORTER_MAX_RETRIES", "many"}},
		{name: "page size above 500", env: procEnv{"EXPORTER_PAGE_SIZE": "501"}, want: []string{"EXPORTER_PAGE_SIZE", "501"}},
		{name: "page size zero", env: procEnv{"EXPORTER_PAGE_SIZE": "0"}, want: []string{"EXPORTER_PAGE_SIZE"}},
		{name: "concurrency zero", env: procEnv{"EXPORTER_CONCURRENCY": "0"}, want: []string{"EXPORTER_CONCURRENCY"}},
		{name: "rate limit negative", env: procEnv{"EXPORTER_RATE_LIMIT": "-1"}, want: []string{"EXPORTER_RATE_LIMIT", "-1"}},
		{name: "max retries above range", env: procEnv{"EXPORTER_MAX_RETRIES": "21"}, want: []string{"EXPORTER_MAX_RETRIES", "21"}},
		{name: "request timeout without unit", env: procEnv{"EXPORTER_REQUEST_TIMEOUT": "30"}, want: []string{"EXPORTER_REQUEST_TIMEOUT", "30"}},
		{name: "statement timeout not a duration", env: procEnv{"EXPORTER_STATEMENT_TIMEOUT": "two minutes"}, want: []string{"EXPORTER_STATEMENT_TIMEOUT", "two minutes"}},
		{name: "run timeout negative", env: procEnv{"EXPORTER_RUN_TIMEOUT": "-5m"}, want: []string{"EXPORTER_RUN_TIMEOUT", "-5m"}},
		{name: "schedule not cron", env: procEnv{"EXPORTER_SCHEDULE": "every hour"}, want: []string{"EXPORTER_SCHEDULE", "every hour"}},
		{name: "schedule minute out of range", env: procEnv{"EXPORTER_SCHEDULE": "61 * * * *"}, want: []string{"EXPORTER_SCHEDULE", "61 * * * *"}},
		{name: "schedule with an unknown time zone", env: procEnv{"EXPORTER_SCHEDULE": "CRON_TZ=Mars/Olympus 0 * * * *"}, want: []string{"EXPORTER_SCHEDULE"}},
		{name: "target not a project id", env: procEnv{"EXPORTER_TARGETS": "my-project"}, want: []string{"EXPORTER_TARGETS", "my-project"}},
		{name: "target with a path separator", env: procEnv{"EXPORTER_TARGETS": procProjectA + "/orders/../x"}, want: []string{"EXPORTER_TARGETS", "orders/../x"}},
		{name: "target with an encoded slash", env: procEnv{"EXPORTER_TARGETS": procProjectA + "/orders%2Fx"}, want: []string{"EXPORTER_TARGETS", "orders%2Fx"}},
		{name: "target with a query character", env: procEnv{"EXPORTER_TARGETS": procProjectA + "/orders?pageNum=2"}, want: []string{"EXPORTER_TARGETS", "orders?pageNum=2"}},
		{name: "target with a fragment character", env: procEnv{"EXPORTER_TARGETS": procProjectA + "/orders#x"}, want: []string{"EXPORTER_TARGETS", "orders#x"}},
		{name: "target name over 64 characters", env: procEnv{"EXPORTER_TARGETS": procProjectA + "/" + longName}, want: []string{"EXPORTER_TARGETS", longName}},
		{name: "target with an unknown family", env: procEnv{"EXPORTER_TARGETS": "dedicated:" + procProjectA}, want: []string{"EXPORTER_TARGETS", "dedicated"}},
		{name: "targets with an empty item", env: procEnv{"EXPORTER_TARGETS": procProjectA + ",," + procProjectB}, want: []string{"EXPORTER_TARGETS"}},
		{name: "client id without secret", env: procEnv{"MONGODB_ATLAS_CLIENT_SECRET": ""}, want: []string{"MONGODB_ATLAS_CLIENT_SECRET"}},
		{name: "client secret without id", env: procEnv{"MONGODB_ATLAS_CLIENT_ID": ""}, want: []string{"MONGODB_ATLAS_CLIENT_ID"}},
		{name: "public key without private key", env: procEnv{"MONGODB_ATLAS_PUBLIC_API_KEY": creds.publicKey}, want: []string{"MONGODB_ATLAS_PRIVATE_API_KEY"}},
		{name: "private key without public key", env: procEnv{"MONGODB_ATLAS_PRIVATE_API_KEY": creds.privateKey}, want: []string{"MONGODB_ATLAS_PUBLIC_API_KEY"}},
		{name: "http base URL to a public host", env: procEnv{"MONGODB_ATLAS_BASE_URL": "http://cloud.mongodb.com"}, want: []string{"MONGODB_ATLAS_BASE_URL", "http://cloud.mongodb.com"}},
		{name: "http base URL to a private address", env: procEnv{"MONGODB_ATLAS_BASE_URL": "http://10.1.2.3:8080"}, want: []string{"MONGODB_ATLAS_BASE_URL", "10.1.2.3"}},
		{name: "http base URL to a loopback-looking name", env: procEnv{"MONGODB_ATLAS_BASE_URL": "http://127.0.0.1.nip.io"}, want: []string{"MONGODB_ATLAS_BASE_URL"}},
		{name: "base URL with a path", env: procEnv{"MONGODB_ATLAS_BASE_URL": "https://cloud.mongodb.com/api/atlas"}, want: []string{"MONGODB_ATLAS_BASE_URL"}},
		{name: "base URL with a password", env: procEnv{"MONGODB_ATLAS_BASE_URL": "https://user:" + urlPassword + "@cloud.mongodb.com"}, want: []string{"MONGODB_ATLAS_BASE_URL"}, avoid: []string{urlPassword}},
		{name: "base URL not a URL", env: procEnv{"MONGODB_ATLAS_BASE_URL": "cloud.mongodb.com"}, want: []string{"MONGODB_ATLAS_BASE_URL"}},
		{
			name: "secret file missing",
			env:  procEnv{"MONGODB_ATLAS_CLIENT_SECRET": "", "MONGODB_ATLAS_CLIENT_SECRET_FILE": missingFile},
			want: []string{"MONGODB_ATLAS_CLIENT_SECRET_FILE", missingFile},
		},
		{
			name: "secret file is a folder",
			env:  procEnv{"MONGODB_ATLAS_CLIENT_SECRET": "", "MONGODB_ATLAS_CLIENT_SECRET_FILE": dir},
			want: []string{"MONGODB_ATLAS_CLIENT_SECRET_FILE"},
		},
		{
			name: "private key file missing",
			env: procEnv{
				"MONGODB_ATLAS_CLIENT_ID": "", "MONGODB_ATLAS_CLIENT_SECRET": "",
				"MONGODB_ATLAS_PUBLIC_API_KEY": creds.publicKey, "MONGODB_ATLAS_PRIVATE_API_KEY_FILE": missingFile,
			},
			want: []string{"MONGODB_ATLAS_PRIVATE_API_KEY_FILE"},
		},
		{
			name: "database URL file missing",
			env:  procEnv{"DATABASE_URL": "", "DATABASE_URL_FILE": missingFile},
			want: []string{"DATABASE_URL_FILE"},
		},
		{
			name:  "secret and secret file both set",
			env:   procEnv{"MONGODB_ATLAS_CLIENT_SECRET_FILE": secretFile},
			want:  []string{"MONGODB_ATLAS_CLIENT_SECRET_FILE", "MONGODB_ATLAS_CLIENT_SECRET "},
			avoid: []string{fileSecret, creds.clientSecret},
		},
		{name: "schema not an identifier", env: procEnv{"EXPORTER_DB_SCHEMA": "Atlas-Backup"}, want: []string{"EXPORTER_DB_SCHEMA", "Atlas-Backup"}},
		{name: "schema reserved by PostgreSQL", env: procEnv{"EXPORTER_DB_SCHEMA": "pg_catalog"}, want: []string{"EXPORTER_DB_SCHEMA", "pg_catalog"}},
		{name: "statement timeout that PostgreSQL reads as none", env: procEnv{"EXPORTER_STATEMENT_TIMEOUT": "500us"}, want: []string{"EXPORTER_STATEMENT_TIMEOUT", "100ms"}},
		{name: "shard count without job index", env: procEnv{"EXPORTER_SHARD_COUNT": "4"}, want: []string{"EXPORTER_SHARD_COUNT", "EXPORTER_SHARD=i/n"}},
		{name: "secret file empty", env: procEnv{"MONGODB_ATLAS_CLIENT_SECRET": "", "MONGODB_ATLAS_CLIENT_SECRET_FILE": emptyFile}, want: []string{"MONGODB_ATLAS_CLIENT_SECRET_FILE", "file is empty"}},
		{name: "pushgateway URL with a token in its query", env: procEnv{"EXPORTER_PUSHGATEWAY_URL": "http://127.0.0.1:9091/?token=" + urlPassword}, want: []string{"EXPORTER_PUSHGATEWAY_URL"}, avoid: []string{urlPassword}},
		{name: "database URL with a bad sslmode", env: procEnv{"DATABASE_URL": "postgres://exporter:" + urlPassword + "@127.0.0.1:5432/backups?sslmode=sometimes"}, want: []string{"DATABASE_URL", "sslmode"}, avoid: []string{urlPassword}},
		{name: "database URL not postgres", env: procEnv{"DATABASE_URL": "mysql://exporter:" + urlPassword + "@127.0.0.1/backups"}, want: []string{"DATABASE_URL"}, avoid: []string{urlPassword}},
		{name: "database URL with a bad port", env: procEnv{"DATABASE_URL": "postgres://exporter:" + urlPassword + "@127.0.0.1:port/backups"}, want: []string{"DATABASE_URL", "port"}, avoid: []string{urlPassword}},
		{name: "database URL file holding a password alone", env: procEnv{"DATABASE_URL": "", "DATABASE_URL_FILE": passwordOnlyFile}, want: []string{"DATABASE_URL"}, avoid: []string{urlPassword}},
		{name: "shard index out of range", env: procEnv{"EXPORTER_SHARD": "2/2"}, want: []string{"EXPORTER_SHARD", "2/2"}},
		{name: "job index without shard count", env: procEnv{"JOB_COMPLETION_INDEX": "0"}, want: []string{"EXPORTER_SHARD_COUNT"}},
		{name: "job index out of range", env: procEnv{"JOB_COMPLETION_INDEX": "3", "EXPORTER_SHARD_COUNT": "3"}, want: []string{"JOB_COMPLETION_INDEX", "3"}},
		{name: "log level unknown", env: procEnv{"LOG_LEVEL": "verbose"}, want: []string{"LOG_LEVEL", "verbose"}},
		{name: "log format unknown", env: procEnv{"LOG_FORMAT": "xml"}, want: []string{"LOG_FORMAT", "xml"}},
		{name: "run without targets", env: procEnv{"EXPORTER_TARGETS": ""}, want: []string{"EXPORTER_TARGETS"}},
		{name: "run with blank targets", env: procEnv{"EXPORTER_TARGETS": "  "}, want: []string{"EXPORTER_TARGETS"}},
		{
			name: "run without credentials",
			env:  procEnv{"MONGODB_ATLAS_CLIENT_ID": "", "MONGODB_ATLAS_CLIENT_SECRET": ""},
			want: []string{"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_PUBLIC_API_KEY"},
		},
		{name: "bad value under migrate", args: []string{"migrate", "up"}, env: procEnv{"EXPORTER_PAGE_SIZE": "0"}, want: []string{"EXPORTER_PAGE_SIZE"}},
		{name: "no command", args: []string{}, want: []string{"Usage:", "no command"}},
		{name: "unknown command", args: []string{"frobnicate"}, want: []string{`"frobnicate"`}},
		{name: "a flag run does not take", args: []string{"run", "--dry-run"}, want: []string{"run takes no arguments", "--dry-run"}},
		{name: "a flag demo does not take", args: []string{"demo", "--help"}, want: []string{"demo takes no arguments"}},
		{name: "migrate without operation", args: []string{"migrate"}, want: []string{"migrate"}},
		{name: "migrate unknown operation", args: []string{"migrate", "sideways"}, want: []string{"migrate"}},
		{name: "migrate up with an argument", args: []string{"migrate", "up", "2"}, want: []string{"migrate"}},
		{name: "migrate down without a count", args: []string{"migrate", "down"}, want: []string{"migrate"}},
		{name: "migrate down zero", args: []string{"migrate", "down", "0"}, want: []string{"migrate down", `"0"`}},
		{name: "migrate down not a number", args: []string{"migrate", "down", "one"}, want: []string{"migrate down", `"one"`}},
		{name: "migrate force negative", args: []string{"migrate", "force", "-1"}, want: []string{"migrate force", `"-1"`}},
		{name: "migrate force with two versions", args: []string{"migrate", "force", "1", "2"}, want: []string{"migrate"}},
		{name: "migrate down more than applied", args: []string{"migrate", "down", "999"}, want: []string{"migrations are applied"}},
		{name: "migrate force a version no file has", args: []string{"migrate", "force", "999"}, want: []string{"not a migration of this exporter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			sim := procStartSim(t, creds)
			procPopulate(sim)
			env := procExportEnv(sim, creds, dbURL, procTargets).with(tc.env)
			args := tc.args
			if args == nil {
				args = []string{"run"}
			}

			res := procRun(t, env, args...)

			require.Equal(t, exitUsage, res.code)
			require.Empty(t, res.stdout)
			for _, w := range tc.want {
				require.Contains(t, res.stderr, w)
			}
			for _, a := range tc.avoid {
				require.NotContains(t, res.stderr, a)
			}
			procRequireNoRequests(t, sim)
		})
	}
}

// TestDatabaseUnreachable: a database that cannot be reached exits 3 with
// a message naming host and database, never the password, before any
// request to Atlas.
func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	port := procClosedPort(t)
	password := "dbpw-" + procRandomHex(10)
	escaped := "p%40ss%2F" + procRandomHex(10) // p@ss/...
	atTail := "tail" + procRandomHex(8)        // a password's part after an unescaped '@'
	procRegisterSecrets(atTail)
	procRegisterSecrets(password, escaped, strings.NewReplacer("%40", "@", "%2F", "/").Replace(escaped))

	tests := []struct {
		name, url, database string
		args                []string
		avoid               []string // besides the passwords every case avoids
	}{
		{name: "closed port", url: "postgres://exporter@127.0.0.1:" + port + "/backups_plain", database: "backups_plain"},
		{name: "closed port with a password", url: "postgres://exporter:" + password + "@127.0.0.1:" + port + "/backups_pw", database: "backups_pw"},
		{name: "escaped password", url: "postgres://exporter:" + escaped + "@127.0.0.1:" + port + "/backups_esc", database: "backups_esc"},
		{name: "keyword form with a password", url: "host=127.0.0.1 port=" + port + " dbname=backups_kv user=exporter password=" + password, database: "backups_kv"},
		{name: "quoted keyword password", url: "host=127.0.0.1 port=" + port + " dbname=backups_q password='" + password + " x'", database: "backups_q"},
		{name: "password as a query parameter", url: "postgres://exporter@127.0.0.1:" + port + "/backups_qp?password=" + password, database: "backups_qp"},
		{name: "keyword password with spaces", url: "host=127.0.0.1 port=" + port + " dbname=backups_sp password = " + password, database: "backups_sp"},
		{
			name: "password with an unescaped at", database: "backups_at",
			url:   "postgres://exporter:" + password + "@" + atTail + "@127.0.0.1:" + port + "/backups_at",
			avoid: []string{atTail},
		},
		{name: "migrate up", url: "postgres://exporter:" + password + "@127.0.0.1:" + port + "/backups_mig", database: "backups_mig", args: []string{"migrate", "up"}},
		{name: "migrate version", url: "postgres://exporter:" + password + "@127.0.0.1:" + port + "/backups_ver", database: "backups_ver", args: []string{"migrate", "version"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			sim := procStartSim(t, creds)
			procPopulate(sim)
			args := tc.args
			if args == nil {
				args = []string{"run"}
			}

			res := procRun(t, procExportEnv(sim, creds, tc.url, procTargets), args...)

			require.Equal(t, exitDatabase, res.code)
			require.Contains(t, res.stderr, "127.0.0.1")
			require.Contains(t, res.stderr, tc.database)
			require.NotContains(t, res.stdout+res.stderr, password)
			require.NotContains(t, res.stdout+res.stderr, "ss/")
			require.NotContains(t, res.stdout+res.stderr, escaped)
			for _, a := range tc.avoid {
				require.NotContains(t, res.stdout+res.stderr, a)
			}
			procRequireNoRequests(t, sim)
		})
	}
}

// procClosedPort returns a loopback port nothing listens on.
func procClosedPort(t *testing.T) string {
	t.Helper()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, ln.Close())

	return port
}

// TestRunServiceAccount: a run exports everything with one token and
// prints a summary; reruns on unchanged data, in another time zone too,
// write no row at all.
func TestRunServiceAccount(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	sim := procStartSim(t, creds)
	procPopulate(sim)
	dbURL := dbtest.NewURL(t)
	conn := procOpenDB(t, dbURL)
	env := procExportEnv(sim, creds, dbURL, procTargets).with(procEnv{"EXPORTER_PAGE_SIZE": procPageSize})
	total := procTotalSnapshots()

	res := procRun(t, env, "run")

	require.Equal(t, exitOK, res.code)
	require.Regexp(t, `run \d+ succeeded in \S+: 3 targets, 0 failed`, res.stdout)
	require.Contains(t, res.stdout, fmt.Sprintf("snapshots: %d seen, %d created, 0 updated, 0 unchanged, 0 removed", total, total))
	require.Equal(t, total, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshots WHERE removed_at IS NULL`))
	require.Equal(t, total, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshot_versions`))
	require.Contains(t, res.stdout, fmt.Sprintf("requests: %d (", procAPIRequests(sim)), "the summary counts every API request")
	require.Equal(t, procMinPages(), procCount(t, conn, `SELECT sum(pages) FROM atlas_backup.export_run_targets`),
		"snapshot listings read the fewest pages")
	require.Equal(t, 1, sim.TokenRequests(), "one token serves the whole run")
	require.Len(t, sim.IssuedTokens(), 1)
	procRequireAuth(t, sim, atlassim.AuthBearer)

	rows := procRowVersions(t, conn)
	require.Len(t, rows, 2*total)

	reruns := []struct {
		name string
		env  procEnv
	}{
		{name: "same environment"},
		{name: "TZ and PGTZ Asia/Kolkata", env: procEnv{"TZ": "Asia/Kolkata", "PGTZ": "Asia/Kolkata"}},
	}
	for i, rr := range reruns {
		res := procRun(t, env.with(rr.env), "run")

		require.Equal(t, exitOK, res.code, rr.name)
		require.Contains(t, res.stdout, fmt.Sprintf("snapshots: %d seen, 0 created, 0 updated, %d unchanged, 0 removed", total, total), rr.name)
		require.Equal(t, rows, procRowVersions(t, conn), "%s: rows of snapshots or snapshot_versions were written", rr.name)
		require.Equal(t, 2+i, sim.TokenRequests(), rr.name)
	}

	// The same comparison sees a real change: one snapshot goes from
	// QUEUED to COMPLETED, which rewrites its row, closes version 1 and
	// adds version 2, and nothing else.
	id := procQueuedSnapshot
	sim.PutSnapshot(procProjectA, "flex:"+procFlexA, atlassim.FlexSnapshot(id, procQueuedAt, "COMPLETED"))

	res = procRun(t, env, "run")

	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, fmt.Sprintf("snapshots: %d seen, 0 created, 1 updated, %d unchanged, 0 removed", total, total-1))
	require.Equal(t, []string{"snapshot_versions/" + id + "/1", "snapshot_versions/" + id + "/2", "snapshots/" + id},
		procChangedRows(rows, procRowVersions(t, conn)))
}

// procMinPages is the fewest listing pages that cover procSnapshotCounts at
// procPageSize: a short page ends a listing, so a full last page needs an
// empty one after it.
func procMinPages() int {
	size, _ := strconv.Atoi(procPageSize)
	pages := 0
	for _, n := range procSnapshotCounts {
		pages += n/size + 1
	}

	return pages
}

// procAPIRequests counts the API requests the simulator answered, token
// requests aside.
func procAPIRequests(sim *procSim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Auth != atlassim.AuthBasic {
			n++
		}
	}

	return n
}

// procChangedRows lists the rows of after that are new or rewritten since
// before, sorted.
func procChangedRows(before, after map[string]string) []string {
	var changed []string
	for key, xmin := range after {
		if before[key] != xmin {
			changed = append(changed, key)
		}
	}
	slices.Sort(changed)

	return changed
}

// procRequireAuth checks that every API request the simulator saw (the
// token endpoint aside) authenticated with scheme.
func procRequireAuth(t *testing.T, sim *procSim, scheme atlassim.AuthScheme) {
	t.Helper()

	api := 0
	for _, r := range sim.Requests() {
		if r.Auth == atlassim.AuthBasic || r.Status == http.StatusUnauthorized {
			continue // the token endpoint; Digest challenges
		}

		api++
		require.Equal(t, scheme, r.Auth, "%s %s", r.Method, r.Path)
		require.Equal(t, http.StatusOK, r.Status, "%s %s", r.Method, r.Path)
	}
	require.NotZero(t, api)
}

// TestRunDigest: an API key authenticates with HTTP Digest, its private
// part from a variable or from a file.
func TestRunDigest(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		fromFile bool
	}{
		{name: "private key in the environment"},
		{name: "private key from a file", fromFile: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			creds := procNewCreds()
			sim := procStartSim(t, creds)
			procPopulate(sim)
			dbURL := dbtest.NewURL(t)
			env := procExportEnv(sim, creds, dbURL, procTargets).with(procEnv{
				"MONGODB_ATLAS_CLIENT_ID":       "",
				"MONGODB_ATLAS_CLIENT_SECRET":   "",
				"MONGODB_ATLAS_PUBLIC_API_KEY":  creds.publicKey,
				"MONGODB_ATLAS_PRIVATE_API_KEY": creds.privateKey,
			})
			if tc.fromFile {
				path := filepath.Join(t.TempDir(), "private-key")
				require.NoError(t, os.WriteFile(path, []byte(creds.privateKey+"\n"), 0o600))
				env = env.with(procEnv{"MONGODB_ATLAS_PRIVATE_API_KEY": "", "MONGODB_ATLAS_PRIVATE_API_KEY_FILE": path})
			}

			res := procRun(t, env, "run")

			require.Equal(t, exitOK, res.code)
			require.Contains(t, res.stdout, fmt.Sprintf("%d created", procTotalSnapshots()))
			require.Equal(t, procTotalSnapshots(), procCount(t, procOpenDB(t, dbURL), `SELECT count(*) FROM atlas_backup.snapshots`))
			require.Zero(t, sim.TokenRequests())
			procRequireAuth(t, sim, atlassim.AuthDigest)
		})
	}
}

// TestRunTargetFails: one target failing makes the run exit 1, records
// Atlas's errorCode for it, and exports the others.
func TestRunTargetFails(t *testing.T) {
	t.Parallel()

	okTarget := "flex:" + procProjectB + "/" + procFlexB
	tests := []struct {
		name    string
		target  string // the failing one, as configured
		key     string // its row in export_run_targets
		intrude func(sim *procSim)
		code    string
	}{
		{name: "unknown project", target: procProjectNew, key: procProjectNew, code: atlassim.CodeGroupNotFound},
		{name: "unknown pinned project", target: "flex:" + procProjectNew, key: "flex:" + procProjectNew, code: atlassim.CodeGroupNotFound},
		{name: "unknown instance", target: procProjectA + "/no-such-cluster", key: procProjectA + "/no-such-cluster", code: atlassim.CodeFlexClusterNotFound},
		{
			name: "unknown serverless instance", target: "serverless:" + procProjectA + "/no-such-instance",
			key: "serverless:" + procProjectA + "/no-such-instance", code: atlassim.CodeServerlessInstanceNotFound,
		},
		{
			name: "instance gone before its listing", target: "flex:" + procProjectA + "/" + procFlexA,
			key: procProjectA + "/" + procFlexA, code: atlassim.CodeFlexClusterNotFound,
			intrude: func(sim *procSim) {
				sim.Intercept(func(r *http.Request, _ int) *atlassim.Fault {
					if !strings.Contains(r.URL.Path, "/flexClusters/"+procFlexA+"/backup/snapshots") {
						return nil
					}

					return &atlassim.Fault{Status: http.StatusNotFound, Body: atlassim.ErrorBody(http.StatusNotFound,
						atlassim.CodeFlexClusterNotFound, "Flex cluster "+procFlexA+" not found.", procFlexA)}
				})
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			creds := procNewCreds()
			sim := procStartSim(t, creds)
			procPopulate(sim)
			if tc.intrude != nil {
				tc.intrude(sim)
			}
			dbURL := dbtest.NewURL(t)
			conn := procOpenDB(t, dbURL)

			res := procRun(t, procExportEnv(sim, creds, dbURL, tc.target+","+okTarget), "run")

			require.Equal(t, exitTargets, res.code)
			require.Regexp(t, `run \d+ partial in \S+: 2 targets, 1 failed`, res.stdout)
			require.Contains(t, res.stdout, tc.key)
			require.Equal(t, procSnapshotCounts[procFlexB], procCount(t, conn,
				`SELECT count(*) FROM atlas_backup.snapshots WHERE project_id = $1 AND instance_name = $2`, procProjectB, procFlexB))
			require.Equal(t, procSnapshotCounts[procFlexB], procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshots`),
				"nothing of the failed target written")
			require.Equal(t, procTargetOutcomes{
				tc.key:                         {status: "failed", code: tc.code},
				procProjectB + "/" + procFlexB: {status: "succeeded"},
			}, procReadOutcomes(t, conn))
			require.Equal(t, 1, procCount(t, conn, `SELECT count(*) FROM atlas_backup.export_runs WHERE status = 'partial'`))
		})
	}
}

// procTargetOutcomes maps export_run_targets.target to its outcome.
type procTargetOutcomes map[string]procOutcome

type procOutcome struct{ status, code string }

// procReadOutcomes reads the outcome of every target of the latest run.
func procReadOutcomes(t *testing.T, conn *sql.DB) procTargetOutcomes {
	t.Helper()

	rows, err := conn.QueryContext(t.Context(), `
		SELECT target, status, coalesce(error_code, '') FROM atlas_backup.export_run_targets
		WHERE run_id = (SELECT max(id) FROM atlas_backup.export_runs)`)
	require.NoError(t, err)
	defer rows.Close()

	out := procTargetOutcomes{}
	for rows.Next() {
		var key string
		var o procOutcome
		require.NoError(t, rows.Scan(&key, &o.status, &o.code))
		out[key] = o
	}
	require.NoError(t, rows.Err())

	return out
}

// TestConfigCommand: `exporter config` lists every variable the exporter
// reads and never prints a secret.
func TestConfigCommand(t *testing.T) {
	t.Parallel()

	creds := procNewCreds()
	dbPassword := "dbpw-" + procRandomHex(10)
	procRegisterSecrets(dbPassword)
	keyFile := filepath.Join(t.TempDir(), "private-key")
	require.NoError(t, os.WriteFile(keyFile, []byte(creds.privateKey), 0o600))

	env := procBaseEnv().with(procEnv{
		"DATABASE_URL":                       "postgres://exporter:" + dbPassword + "@db.internal:5432/backups?sslpassword=" + dbPassword,
		"MONGODB_ATLAS_CLIENT_ID":            creds.clientID,
		"MONGODB_ATLAS_CLIENT_SECRET":        creds.clientSecret,
		"MONGODB_ATLAS_PUBLIC_API_KEY":       creds.publicKey,
		"MONGODB_ATLAS_PRIVATE_API_KEY_FILE": keyFile,
		"EXPORTER_PAGE_SIZE":                 "123",
	})

	res := procRun(t, env, "config")

	require.Equal(t, exitOK, res.code)
	for _, name := range procConfigNames(t) {
		require.Regexp(t, `(?m)^`+regexp.QuoteMeta(name)+` `, res.stdout, "variable %s not listed", name)
	}
	for _, secret := range []string{creds.clientID, creds.clientSecret, creds.publicKey, creds.privateKey, dbPassword} {
		require.NotContains(t, res.stdout+res.stderr, secret)
	}
	require.Regexp(t, `(?m)^MONGODB_ATLAS_CLIENT_SECRET +\S+ +\(set\)`, res.stdout)
	require.Regexp(t, `(?m)^MONGODB_ATLAS_PRIVATE_API_KEY .*\(from file `+regexp.QuoteMeta(keyFile)+`\)`, res.stdout)
	require.Regexp(t, `(?m)^DATABASE_URL .*postgres://exporter:xxxxx@db\.internal:5432/backups\?sslpassword=xxxxx`, res.stdout)
	require.Regexp(t, `(?m)^EXPORTER_PAGE_SIZE +500 +123 `, res.stdout)

	// A bad value still lists everything, and names the problem.
	res = procRun(t, env.with(procEnv{"EXPORTER_CONCURRENCY": "x"}), "config")
	require.Equal(t, exitOK, res.code)
	require.Regexp(t, `(?m)^EXPORTER_CONCURRENCY +4 +x `, res.stdout)
	require.Contains(t, res.stderr, `problem: config EXPORTER_CONCURRENCY="x"`)
}

// procConfigNames is every variable of DESIGN section 3, every variable the
// Config struct reads, and every documented one.
func procConfigNames(t *testing.T) []string {
	t.Helper()

	names := []string{
		"DATABASE_URL", "MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET",
		"MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY", "MONGODB_ATLAS_BASE_URL",
		"EXPORTER_TARGETS", "EXPORTER_SCHEDULE", "EXPORTER_CONCURRENCY", "EXPORTER_PAGE_SIZE",
		"EXPORTER_RATE_LIMIT", "EXPORTER_REQUEST_TIMEOUT", "EXPORTER_RUN_TIMEOUT", "EXPORTER_MAX_RETRIES",
		"EXPORTER_DB_SCHEMA", "EXPORTER_SHARD", "JOB_COMPLETION_INDEX", "EXPORTER_LISTEN_ADDR",
		"LOG_LEVEL", "LOG_FORMAT",
	}

	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		if tag := typ.Field(i).Tag.Get("envconfig"); tag != "" {
			names = append(names, tag)
		}
	}

	for _, v := range config.Vars {
		names = append(names, v.Name)
	}

	return names
}

// TestVersionCommand: version, commit and Go version, with no configuration
// read at all.
func TestVersionCommand(t *testing.T) {
	t.Parallel()

	for _, arg := range []string{"version", "--version"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()

			res := procRun(t, procBaseEnv().with(procEnv{"EXPORTER_PAGE_SIZE": "not-read"}), arg)

			require.Equal(t, exitOK, res.code)
			require.Equal(t, fmt.Sprintf("exporter %s (commit %s, %s)\n", procVersion, procCommit, runtime.Version()), res.stdout)
		})
	}
}

// TestMigrateCommand: up, version, down N and force V on a database that
// starts empty, including the repair of a dirty state.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.EmptyURL(t)
	conn := procOpenDB(t, dbURL)
	env := procBaseEnv().with(procEnv{"DATABASE_URL": dbURL})
	latest := procLatestMigration(t)
	tables := func() int {
		return procCount(t, conn, `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = 'atlas_backup' AND table_name IN ('snapshots', 'snapshot_versions', 'export_runs')`)
	}

	steps := []struct {
		args    []string
		code    int
		version int
		dirty   bool
		before  func()
		after   func()
	}{
		{args: []string{"up"}, version: latest, after: func() { require.Equal(t, 3, tables()) }},
		{args: []string{"version"}, version: latest},
		{args: []string{"up"}, version: latest},
		{args: []string{"down", "1"}, version: latest - 1},
		{args: []string{"up"}, version: latest},
		{args: []string{"down", strconv.Itoa(latest)}, version: 0, after: func() { require.Zero(t, tables()) }},
		{args: []string{"version"}, version: 0},
		{args: []string{"up"}, version: latest, after: func() { require.Equal(t, 3, tables()) }},
		{
			args: []string{"up"}, code: exitDatabase,
			before: func() {
				_, err := conn.ExecContext(t.Context(), `UPDATE atlas_backup.schema_migrations SET dirty = true`)
				require.NoError(t, err)
			},
		},
		{args: []string{"version"}, version: latest, dirty: true},
		{args: []string{"force", strconv.Itoa(latest)}, version: latest},
		{args: []string{"up"}, version: latest},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}

		res := procRun(t, env, append([]string{"migrate"}, st.args...)...)

		require.Equal(t, st.code, res.code, "migrate %v", st.args)
		if st.code == exitOK {
			require.Equal(t, fmt.Sprintf("schema atlas_backup at version %d (dirty: %t)\n", st.version, st.dirty), res.stdout, "migrate %v", st.args)
		} else {
			require.Contains(t, res.stderr, "dirty", "migrate %v", st.args)
			require.Contains(t, res.stderr, "force", "migrate %v: the message should say how to repair", st.args)
		}

		if st.after != nil {
			st.after()
		}
	}
}

// procLatestMigration is the highest migration number embedded.
func procLatestMigration(t *testing.T) int {
	t.Helper()

	names, err := fs.Glob(migrations.FS, "*.up.sql")
	require.NoError(t, err)

	latest := 0
	for _, name := range names {
		prefix, _, _ := strings.Cut(name, "_")
		n, err := strconv.Atoi(prefix)
		require.NoError(t, err, name)
		latest = max(latest, n)
	}
	require.NotZero(t, latest)

	return latest
}

// TestDemoCommand: the demo exports into DATABASE_URL, reports, and its
// second pass over unchanged data changes nothing.
func TestDemoCommand(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.NewURL(t)
	conn := procOpenDB(t, dbURL)

	res := procRun(t, procBaseEnv().with(procEnv{"DATABASE_URL": dbURL}), "demo")

	require.Equal(t, exitOK, res.code)
	first, second, ok := strings.Cut(res.stdout, "== second pass (unchanged data)")
	require.True(t, ok, "no second pass")
	require.Contains(t, first, "== first pass")

	created := regexp.MustCompile(`snapshots: (\d+) seen, (\d+) created, 0 updated, 0 unchanged, 0 removed`).FindStringSubmatch(first)
	require.NotNil(t, created, "first pass summary")
	require.Equal(t, created[1], created[2])
	require.Contains(t, second, "snapshots: "+created[1]+" seen, 0 created, 0 updated, "+created[1]+" unchanged, 0 removed")

	_, report, ok := strings.Cut(second, "== snapshots per instance")
	require.True(t, ok, "no report")
	lines := strings.Split(strings.TrimSpace(report), "\n")
	instances := procCount(t, conn, `SELECT count(*) FROM atlas_demo.instances`)
	require.NotZero(t, instances)
	require.Len(t, lines, 1+instances, "a header and one line per instance")

	seen, err := strconv.Atoi(created[1])
	require.NoError(t, err)
	require.Equal(t, seen, procCount(t, conn, `SELECT count(*) FROM atlas_demo.snapshots`))
	require.Equal(t, seen, procCount(t, conn, `SELECT count(*) FROM atlas_demo.snapshot_versions`))
	require.Zero(t, procCount(t, conn, `SELECT count(*) FROM atlas_backup.snapshots`),
		"the demo keeps out of the production schema")

	// A DATABASE_URL that was given must work: no silent fallback to a
	// throwaway database whose data would vanish.
	res = procRun(t, procBaseEnv().with(procEnv{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nosuch"}), "demo")
	require.Equal(t, exitDatabase, res.code)
	require.Contains(t, res.stderr, "127.0.0.1")
}
