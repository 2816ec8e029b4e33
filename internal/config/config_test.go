package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

const project = "5f1a2b3c4d5e6f7a8b9c0d1e"

// clearEnv unsets every variable the exporter reads, so the machine's own
// environment cannot leak into a case.
func clearEnv(t *testing.T) {
	t.Helper()

	for _, v := range Vars {
		for _, name := range []string{v.Name, v.Name + "_FILE"} {
			t.Setenv(name, "")
			require.NoError(t, os.Unsetenv(name))
		}
	}
}

func setEnv(t *testing.T, env map[string]string) {
	t.Helper()

	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)

	c, err := Load()
	require.NoError(t, err)
	require.Equal(t, "https://cloud.mongodb.com", c.BaseURL)
	require.Equal(t, 4, c.Concurrency)
	require.Equal(t, 500, c.PageSize)
	require.Equal(t, 400, c.RateLimit)
	require.Equal(t, "atlas_backup", c.Schema)
	require.Equal(t, Shard{Index: 0, Count: 1}, c.Shard)
	require.Equal(t, "@hourly", c.Schedule)
	require.True(t, c.RunOnStart)
	require.Equal(t, 25*time.Second, c.ShutdownTimeout)
	require.Empty(t, c.PushgatewayURL)
}

func TestLoadProductionSettings(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{
		"EXPORTER_RUN_ON_START":     "false",
		"EXPORTER_SHUTDOWN_TIMEOUT": "10s",
		"EXPORTER_PUSHGATEWAY_URL":  "http://pushgateway.monitoring:9091",
		"EXPORTER_SCHEDULE":         "CRON_TZ=Europe/Paris 15 */2 * * *",
	})

	c, err := Load()
	require.NoError(t, err)
	require.False(t, c.RunOnStart)
	require.Equal(t, 10*time.Second, c.ShutdownTimeout)
	require.Equal(t, "http://pushgateway.monitoring:9091", c.PushgatewayURL)
}

func TestPushgatewayPasswordMasked(t *testing.T) {
	clearEnv(t)
	t.Setenv("EXPORTER_PUSHGATEWAY_URL", "https://push:hunter2@pg.example")

	for _, v := range Vars {
		if v.Name == "EXPORTER_PUSHGATEWAY_URL" {
			require.NotContains(t, v.Current(), "hunter2")
		}
	}

	t.Setenv("EXPORTER_PUSHGATEWAY_URL", "ftp://push:hunter2@pg.example")
	_, err := Load()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}

func TestLoadRejectsBadValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"concurrency not a number", map[string]string{"EXPORTER_CONCURRENCY": "four"}, "EXPORTER_CONCURRENCY"},
		{"concurrency zero", map[string]string{"EXPORTER_CONCURRENCY": "0"}, "EXPORTER_CONCURRENCY"},
		{"page size above 500", map[string]string{"EXPORTER_PAGE_SIZE": "501"}, "EXPORTER_PAGE_SIZE"},
		// envconfig reads Go literals: 010 would be 8, 0x10 16.
		{"page size with a leading zero", map[string]string{"EXPORTER_PAGE_SIZE": "010"}, "EXPORTER_PAGE_SIZE"},
		{"page size in hex", map[string]string{"EXPORTER_PAGE_SIZE": "0x10"}, "EXPORTER_PAGE_SIZE"},
		{"concurrency in binary", map[string]string{"EXPORTER_CONCURRENCY": "0b11"}, "EXPORTER_CONCURRENCY"},
		{"retries with an underscore", map[string]string{"EXPORTER_MAX_RETRIES": "1_0"}, "EXPORTER_MAX_RETRIES"},
		{"rate limit negative", map[string]string{"EXPORTER_RATE_LIMIT": "-1"}, "EXPORTER_RATE_LIMIT"},
		{"retries too many", map[string]string{"EXPORTER_MAX_RETRIES": "99"}, "EXPORTER_MAX_RETRIES"},
		{"timeout not a duration", map[string]string{"EXPORTER_REQUEST_TIMEOUT": "30"}, "EXPORTER_REQUEST_TIMEOUT"},
		{"run timeout zero", map[string]string{"EXPORTER_RUN_TIMEOUT": "0s"}, "EXPORTER_RUN_TIMEOUT"},
		{"bad schedule", map[string]string{"EXPORTER_SCHEDULE": "every hour"}, "EXPORTER_SCHEDULE"},
		{"bad schema", map[string]string{"EXPORTER_DB_SCHEMA": "Robert'); DROP"}, "EXPORTER_DB_SCHEMA"},
		{"bad shard", map[string]string{"EXPORTER_SHARD": "3/3"}, "EXPORTER_SHARD"},
		{"job index without count", map[string]string{"JOB_COMPLETION_INDEX": "1"}, "EXPORTER_SHARD_COUNT"},
		{"job index out of range", map[string]string{"JOB_COMPLETION_INDEX": "4", "EXPORTER_SHARD_COUNT": "4"}, "JOB_COMPLETION_INDEX"},
		{"run on start not a bool", map[string]string{"EXPORTER_RUN_ON_START": "sometimes"}, "EXPORTER_RUN_ON_START"},
		{"shutdown timeout zero", map[string]string{"EXPORTER_SHUTDOWN_TIMEOUT": "0s"}, "EXPORTER_SHUTDOWN_TIMEOUT"},
		{"shutdown timeout not a duration", map[string]string{"EXPORTER_SHUTDOWN_TIMEOUT": "25"}, "EXPORTER_SHUTDOWN_TIMEOUT"},
		{"pushgateway not a url", map[string]string{"EXPORTER_PUSHGATEWAY_URL": "pushgateway:9091"}, "EXPORTER_PUSHGATEWAY_URL"},
		{"bad log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"bad log format", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"base url plain http to a remote host", map[string]string{"MONGODB_ATLAS_BASE_URL": "http://cloud.mongodb.com"}, "MONGODB_ATLAS_BASE_URL"},
		{"base url with a path", map[string]string{"MONGODB_ATLAS_BASE_URL": "https://cloud.mongodb.com/api"}, "MONGODB_ATLAS_BASE_URL"},
		{"base url not a url", map[string]string{"MONGODB_ATLAS_BASE_URL": "cloud.mongodb.com"}, "MONGODB_ATLAS_BASE_URL"},
		{"client id without secret", map[string]string{"MONGODB_ATLAS_CLIENT_ID": "mdb_sa_id"}, "MONGODB_ATLAS_CLIENT_SECRET"},
		{"private key without public", map[string]string{"MONGODB_ATLAS_PRIVATE_API_KEY": "k"}, "MONGODB_ATLAS_PUBLIC_API_KEY"},
		{"target project id too short", map[string]string{"EXPORTER_TARGETS": "abc"}, "EXPORTER_TARGETS"},
		{"target empty item", map[string]string{"EXPORTER_TARGETS": project + ",,"}, "EXPORTER_TARGETS"},
		{"target unknown family", map[string]string{"EXPORTER_TARGETS": "dedicated:" + project}, "EXPORTER_TARGETS"},
		{"target name with a slash", map[string]string{"EXPORTER_TARGETS": project + "/a/b"}, "EXPORTER_TARGETS"},
		{"target name with an encoded slash", map[string]string{"EXPORTER_TARGETS": project + "/a%2Fb"}, "EXPORTER_TARGETS"},
		{"target name with a query", map[string]string{"EXPORTER_TARGETS": project + "/a?x=1"}, "EXPORTER_TARGETS"},
		{"target name too long", map[string]string{"EXPORTER_TARGETS": project + "/" + strings.Repeat("a", 65)}, "EXPORTER_TARGETS"},
		{"secret and secret file both", map[string]string{"MONGODB_ATLAS_CLIENT_SECRET": "s", "MONGODB_ATLAS_CLIENT_SECRET_FILE": "/x"}, "MONGODB_ATLAS_CLIENT_SECRET_FILE"},
		{"secret file missing", map[string]string{"MONGODB_ATLAS_CLIENT_SECRET_FILE": "/nonexistent/secret"}, "MONGODB_ATLAS_CLIENT_SECRET_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			setEnv(t, tt.env)

			_, err := Load()

			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, tt.wantVar, cerr.Var)
			require.Contains(t, err.Error(), tt.wantVar)
		})
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	clearEnv(t)
	setEnv(t, map[string]string{
		"MONGODB_ATLAS_PUBLIC_API_KEY":  "pubkey-visible-is-fine",
		"MONGODB_ATLAS_PRIVATE_API_KEY": "",
		"MONGODB_ATLAS_CLIENT_ID":       "",
		"MONGODB_ATLAS_CLIENT_SECRET":   "hunter2-secret",
	})

	_, err := Load()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2-secret")
}

func TestSecretsFromFiles(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))

		return path
	}
	setEnv(t, map[string]string{
		"MONGODB_ATLAS_CLIENT_ID_FILE":     write("id", "mdb_sa_id_1\n"),
		"MONGODB_ATLAS_CLIENT_SECRET_FILE": write("secret", "s3cr3t\r\n"),
		"DATABASE_URL_FILE":                write("db", "postgres://u:pw@db/x"),
		"EXPORTER_TARGETS":                 project,
	})

	c, err := Load()
	require.NoError(t, err)
	require.Equal(t, "mdb_sa_id_1", c.ClientID)
	require.Equal(t, "s3cr3t", c.ClientSecret)
	require.Equal(t, "postgres://u:pw@db/x", c.DatabaseURL)
	require.True(t, c.UseServiceAccount())
	require.NoError(t, c.RequireExport())
}

func TestRequireExport(t *testing.T) {
	clearEnv(t)

	c, err := Load()
	require.NoError(t, err)

	var cerr *Error
	require.ErrorAs(t, c.RequireExport(), &cerr)
	require.Equal(t, "EXPORTER_TARGETS", cerr.Var)

	t.Setenv("EXPORTER_TARGETS", project)
	c, err = Load()
	require.NoError(t, err)
	require.ErrorAs(t, c.RequireExport(), &cerr)
	require.Equal(t, "MONGODB_ATLAS_CLIENT_ID", cerr.Var)
}

func TestParseTargets(t *testing.T) {
	t.Parallel()

	got, err := ParseTargets(" " + project + " , flex:" + project + "/prod-eu,serverless:" + project + "/old1," + project)
	require.NoError(t, err)
	require.Equal(t, []atlas.Target{
		{ProjectID: project},
		{ProjectID: project, Name: "prod-eu", Family: atlas.Flex},
		{ProjectID: project, Name: "old1", Family: atlas.Serverless},
	}, got)
	require.Equal(t, "flex:"+project+"/prod-eu", got[1].String())
}

func TestShardsPartitionKeys(t *testing.T) {
	t.Parallel()

	const n = 4
	owners := map[string]int{}
	for i := range n {
		s, err := ParseShard(strings.Join([]string{string(rune('0' + i)), "4"}, "/"))
		require.NoError(t, err)

		for k := range 1000 {
			key := project + "/inst-" + string(rune('a'+k%26)) + strings.Repeat("x", k/26)
			if s.Owns(key) {
				owners[key]++
			}
		}
	}

	require.Len(t, owners, 1000, "every key is owned by some shard")
	for key, count := range owners {
		require.Equal(t, 1, count, "key %s owned by exactly one shard", key)
	}
}

func TestMaskDatabaseURL(t *testing.T) {
	t.Parallel()

	const hidden = "(hidden: not a parseable connection string)"

	tests := []struct {
		name, in, want string
	}{
		{"url", "postgres://app:pw@db:5432/x", "postgres://app:xxxxx@db:5432/x"},
		{"key value", "host=db password=pw dbname=x", "host=db password=xxxxx dbname=x"},
		{"no password", "postgres://db/x", "postgres://db/x"},
		{"empty", "", ""},
		{"url query password", "postgres://app@db/x?sslmode=require&password=pw", "postgres://app@db/x?password=xxxxx&sslmode=require"},
		{"url sslpassword", "postgres://app@db/x?sslpassword=pw", "postgres://app@db/x?sslpassword=xxxxx"},
		{"unparsable url", "postgres://app:pw@db:port/x", hidden},
		{"key value spaced", "host=db password = pw dbname=x", "host=db password = xxxxx dbname=x"},
		{"key value quoted", "host=db password='p w' dbname=x", "host=db password=xxxxx dbname=x"},
		{"key value quoted with an escaped quote", `host=db password='p\' w' dbname=x`, "host=db password=xxxxx dbname=x"},
		{"key value sslpassword", "host=db sslpassword=pw", "host=db sslpassword=xxxxx"},
		{"key value upper-case key", "host=db PASSWORD=pw", "host=db PASSWORD=xxxxx"},
		{"password with an unescaped at", "postgres://exporter:Hunter2@Zebra9@127.0.0.1:5999/backups", "postgres://exporter:xxxxx@127.0.0.1:5999/backups"},
		// Values that are neither a URL nor key=value may be anything,
		// a password included: they are hidden whole.
		{"url missing the colon", "postgres//exporter:Hunter2Zebra9@127.0.0.1/backups", hidden},
		{"url with one slash", "postgres:/exporter:Hunter2Zebra9@127.0.0.1/backups", hidden},
		{"a password alone", "Hunter2Zebra9", hidden},
		{"a password with a colon alone", "Hunter2:Zebra9", hidden},
		{"key value with a bare word", "host=db Hunter2Zebra9", hidden},
		{"key value unterminated quote", "host=db password='p w dbname=x", hidden},
		{"key value without a key", "host=db =Hunter2Zebra9", hidden},
		{"url whose password holds a question mark", "postgres://app:12?Hunter2@db/x", hidden},
		{"url whose password holds a hash", "postgres://app:Hun#ter2@db/x", hidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, MaskDatabaseURL(tt.in))
		})
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name, in, want string
	}{
		{"plain", "http://pushgateway:9091", "http://pushgateway:9091"},
		{"with a path", "https://pg.example/prefix", "https://pg.example/prefix"},
		{"token in the query", "https://pg.example/?token=Tok3nSecret&x=1", "https://pg.example/?token=xxxxx&x=xxxxx"},
		{"bare token in the query", "https://pg.example/?Tok3nSecret", "https://pg.example/?xxxxx"},
		{"user and password", "https://push:Tok3nSecret@pg.example", "https://xxxxx@pg.example"},
		{"user alone", "https://Tok3nSecret@pg.example", "https://xxxxx@pg.example"},
		{"fragment", "https://pg.example/#Tok3nSecret", "https://pg.example/"},
		{"unparsable", "https://push:Tok3nSecret@pg.example:port", "(hidden: not a parseable URL)"},
		{"not a URL", "Tok3nSecret", "(hidden: not a parseable URL)"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, MaskURL(tt.in))
		})
	}
}

// A Pushgateway URL carrying a token in its query showed the token in
// `exporter config` and in the error that refused it.
func TestPushgatewayQueryTokenMasked(t *testing.T) {
	clearEnv(t)
	const token = "Tok3nSecret"
	t.Setenv("EXPORTER_PUSHGATEWAY_URL", "https://pg.example:9091/?token="+token)

	require.Equal(t, "https://pg.example:9091/?token=xxxxx", currentOf(t, "EXPORTER_PUSHGATEWAY_URL"))

	_, err := Load()
	var cerr *Error
	require.ErrorAs(t, err, &cerr)
	require.Equal(t, "EXPORTER_PUSHGATEWAY_URL", cerr.Var)
	require.NotContains(t, err.Error(), token)
}

func currentOf(t *testing.T, name string) string {
	t.Helper()

	for _, v := range Vars {
		if v.Name == name {
			return v.Current()
		}
	}

	t.Fatalf("no variable %s", name)

	return ""
}

// A DATABASE_URL_FILE holding a password alone (the wrong file mounted) was
// shown verbatim wherever the connection string is shown masked.
func TestDatabaseURLFileWithAPasswordAloneIsHidden(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(t.TempDir(), "db")
	require.NoError(t, os.WriteFile(path, []byte("Hunter2Zebra9\n"), 0o600))
	t.Setenv("DATABASE_URL_FILE", path)

	c, err := Load()
	require.NoError(t, err)
	require.Equal(t, "Hunter2Zebra9", c.DatabaseURL)
	require.NotContains(t, MaskDatabaseURL(c.DatabaseURL), "Hunter2")
	require.Equal(t, "(from file "+path+")", currentOf(t, "DATABASE_URL"))
}

// Each case pins a value that was accepted, or refused with a misleading
// message, before: the message must name the variable and say what is
// allowed.
func TestLoadExplainsBadValues(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantVar  string
		wantText []string
	}{
		{name: "integer not a number names the range", env: map[string]string{"EXPORTER_CONCURRENCY": "four"},
			wantVar: "EXPORTER_CONCURRENCY", wantText: []string{`"four"`, "must be an integer between 1 and 64"}},
		{name: "integer out of range names the range", env: map[string]string{"EXPORTER_PAGE_SIZE": "0"},
			wantVar: "EXPORTER_PAGE_SIZE", wantText: []string{"must be an integer between 1 and 500"}},
		{name: "retries not a number names the range", env: map[string]string{"EXPORTER_MAX_RETRIES": "many"},
			wantVar: "EXPORTER_MAX_RETRIES", wantText: []string{"between 0 and 20"}},
		{name: "duration without a unit gives examples", env: map[string]string{"EXPORTER_REQUEST_TIMEOUT": "30"},
			wantVar: "EXPORTER_REQUEST_TIMEOUT", wantText: []string{`"30"`, "not a duration (examples: 30s, 5m, 1h)"}},
		{name: "shutdown timeout without a unit gives examples", env: map[string]string{"EXPORTER_SHUTDOWN_TIMEOUT": "25"},
			wantVar: "EXPORTER_SHUTDOWN_TIMEOUT", wantText: []string{"examples: 30s"}},
		{name: "bool not a bool", env: map[string]string{"EXPORTER_RUN_ON_START": "sometimes"},
			wantVar: "EXPORTER_RUN_ON_START", wantText: []string{"true or false"}},
		{name: "schema pg_catalog", env: map[string]string{"EXPORTER_DB_SCHEMA": "pg_catalog"},
			wantVar: "EXPORTER_DB_SCHEMA", wantText: []string{"reserved"}},
		{name: "schema pg_ prefix", env: map[string]string{"EXPORTER_DB_SCHEMA": "pg_backups"},
			wantVar: "EXPORTER_DB_SCHEMA", wantText: []string{"reserved"}},
		{name: "schema information_schema", env: map[string]string{"EXPORTER_DB_SCHEMA": "information_schema"},
			wantVar: "EXPORTER_DB_SCHEMA", wantText: []string{"reserved"}},
		{name: "statement timeout under 1ms would disable it", env: map[string]string{"EXPORTER_STATEMENT_TIMEOUT": "500us"},
			wantVar: "EXPORTER_STATEMENT_TIMEOUT", wantText: []string{"between 100ms and"}},
		{name: "statement timeout under 100ms", env: map[string]string{"EXPORTER_STATEMENT_TIMEOUT": "50ms"},
			wantVar: "EXPORTER_STATEMENT_TIMEOUT", wantText: []string{"100ms"}},
		{name: "statement timeout above what PostgreSQL takes", env: map[string]string{"EXPORTER_STATEMENT_TIMEOUT": "1000h"},
			wantVar: "EXPORTER_STATEMENT_TIMEOUT", wantText: []string{"between 100ms and"}},
		{name: "run timeout under 1s", env: map[string]string{"EXPORTER_RUN_TIMEOUT": "500ms"},
			wantVar: "EXPORTER_RUN_TIMEOUT", wantText: []string{"at least 1s"}},
		{name: "request timeout under 100ms", env: map[string]string{"EXPORTER_REQUEST_TIMEOUT": "10ms"},
			wantVar: "EXPORTER_REQUEST_TIMEOUT", wantText: []string{"at least 100ms"}},
		{name: "shutdown timeout under 1s", env: map[string]string{"EXPORTER_SHUTDOWN_TIMEOUT": "1ms"},
			wantVar: "EXPORTER_SHUTDOWN_TIMEOUT", wantText: []string{"at least 1s"}},
		{name: "shard count without job index", env: map[string]string{"EXPORTER_SHARD_COUNT": "4"},
			wantVar: "EXPORTER_SHARD_COUNT", wantText: []string{"only used with JOB_COMPLETION_INDEX", "use EXPORTER_SHARD=i/n"}},
		{name: "job index without any count", env: map[string]string{"JOB_COMPLETION_INDEX": "1"},
			wantVar: "EXPORTER_SHARD_COUNT", wantText: []string{"config EXPORTER_SHARD_COUNT: required when JOB_COMPLETION_INDEX is set"}},
		{name: "job index with shard 0/1 and no count", env: map[string]string{"JOB_COMPLETION_INDEX": "0", "EXPORTER_SHARD": "0/1"},
			wantVar: "EXPORTER_SHARD_COUNT", wantText: []string{"required when JOB_COMPLETION_INDEX is set"}},
		{name: "shard count and shard n differ", env: map[string]string{"JOB_COMPLETION_INDEX": "1", "EXPORTER_SHARD": "0/4", "EXPORTER_SHARD_COUNT": "3"},
			wantVar: "EXPORTER_SHARD_COUNT", wantText: []string{"EXPORTER_SHARD=0/4"}},
		{name: "shard count zero", env: map[string]string{"JOB_COMPLETION_INDEX": "0", "EXPORTER_SHARD_COUNT": "0"},
			wantVar: "EXPORTER_SHARD_COUNT", wantText: []string{"between 1 and 100000"}},
		{name: "job index beyond shard n", env: map[string]string{"JOB_COMPLETION_INDEX": "4", "EXPORTER_SHARD": "0/4"},
			wantVar: "JOB_COMPLETION_INDEX", wantText: []string{"from 0 to 3"}},
		{name: "bad shard with job index", env: map[string]string{"JOB_COMPLETION_INDEX": "0", "EXPORTER_SHARD_COUNT": "2", "EXPORTER_SHARD": "x"},
			wantVar: "EXPORTER_SHARD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			setEnv(t, tt.env)

			_, err := Load()

			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, tt.wantVar, cerr.Var, "%v", err)
			for _, text := range tt.wantText {
				require.Contains(t, err.Error(), text)
			}
		})
	}
}

func TestLoadAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "log level and format in any case",
			env:  map[string]string{"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "JSON"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "debug", c.LogLevel)
				require.Equal(t, "json", c.LogFormat)
			},
		},
		{
			name: "log format Text",
			env:  map[string]string{"LOG_FORMAT": "Text", "LOG_LEVEL": "Warn"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "text", c.LogFormat)
				require.Equal(t, "warn", c.LogLevel)
			},
		},
		{
			name: "smallest timeouts",
			env: map[string]string{
				"EXPORTER_STATEMENT_TIMEOUT": "100ms", "EXPORTER_REQUEST_TIMEOUT": "100ms",
				"EXPORTER_RUN_TIMEOUT": "1s", "EXPORTER_SHUTDOWN_TIMEOUT": "1s",
			},
			check: func(t *testing.T, c Config) {
				require.Equal(t, 100*time.Millisecond, c.StatementTimeout)
				require.Equal(t, time.Second, c.RunTimeout)
			},
		},
		{
			name: "job index takes the count from EXPORTER_SHARD",
			env:  map[string]string{"JOB_COMPLETION_INDEX": "3", "EXPORTER_SHARD": "0/4"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Shard{Index: 3, Count: 4}, c.Shard)
			},
		},
		{
			name: "job index with a matching count and shard",
			env:  map[string]string{"JOB_COMPLETION_INDEX": "1", "EXPORTER_SHARD": "2/4", "EXPORTER_SHARD_COUNT": "4"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Shard{Index: 1, Count: 4}, c.Shard)
			},
		},
		{
			name: "job index with a count and the default shard",
			env:  map[string]string{"JOB_COMPLETION_INDEX": "2", "EXPORTER_SHARD_COUNT": "3"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Shard{Index: 2, Count: 3}, c.Shard)
			},
		},
		{
			name: "schema public",
			env:  map[string]string{"EXPORTER_DB_SCHEMA": "public"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "public", c.Schema)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			setEnv(t, tt.env)

			c, err := Load()
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// NAME= (set to the empty string, as a manifest or shell often leaves it)
// failed for numbers and some strings, and meant "" for others. Every
// variable now treats empty as unset: the default applies.
// A variable set to the empty string (`NAME=` in a manifest) counts as set:
// where the empty value breaks a rule, the error names the variable, rather
// than the default silently applying.
func TestEmptyValuesAreValues(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"EXPORTER_CONCURRENCY", false},
		{"EXPORTER_REQUEST_TIMEOUT", false},
		{"EXPORTER_SCHEDULE", false},
		{"EXPORTER_SHARD", false},
		{"LOG_LEVEL", false},
		{"DATABASE_URL", false},
		{"EXPORTER_LISTEN_ADDR", false},
		{"MONGODB_ATLAS_CLIENT_SECRET_FILE", false},
		{"EXPORTER_TARGETS", true},
		{"LOG_FORMAT", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tt.name, "")

			_, err := Load()
			if tt.ok {
				require.NoError(t, err)
				return
			}

			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, tt.name, cerr.Var)
		})
	}
}

func TestSecretFileLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, content, 0o600))

		return path
	}

	tests := []struct {
		name    string
		content []byte
		want    string // the error's text, or "" for success
	}{
		{"empty file", nil, "file is empty"},
		{"only a line break", []byte("\n"), "file is empty"},
		{"just over 64 KiB", []byte(strings.Repeat("a", 64<<10+1)), "larger than 64 KiB"},
		{"exactly 64 KiB", []byte(strings.Repeat("a", 64<<10)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("MONGODB_ATLAS_CLIENT_ID", "mdb_sa_id_1")
			t.Setenv("MONGODB_ATLAS_CLIENT_SECRET_FILE", write(strings.ReplaceAll(tt.name, " ", "-"), tt.content))

			c, err := Load()
			if tt.want == "" {
				require.NoError(t, err)
				require.Len(t, c.ClientSecret, 64<<10)

				return
			}

			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			require.Equal(t, "MONGODB_ATLAS_CLIENT_SECRET_FILE", cerr.Var)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}
