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

	tests := []struct {
		name, in, want string
	}{
		{"url", "postgres://app:pw@db:5432/x", "postgres://app:xxxxx@db:5432/x"},
		{"key value", "host=db password=pw dbname=x", "host=db password=xxxxx dbname=x"},
		{"no password", "postgres://db/x", "postgres://db/x"},
		{"url query password", "postgres://app@db/x?sslmode=require&password=pw", "postgres://app@db/x?password=xxxxx&sslmode=require"},
		{"url sslpassword", "postgres://app@db/x?sslpassword=pw", "postgres://app@db/x?sslpassword=xxxxx"},
		{"unparsable url", "postgres://app:pw@db:port/x", "(not a valid URL)"},
		{"key value spaced", "host=db password = pw dbname=x", "host=db password = xxxxx dbname=x"},
		{"key value quoted", "host=db password='p w' dbname=x", "host=db password=xxxxx dbname=x"},
		{"key value unterminated quote", "host=db password='p w dbname=x", "host=db password=xxxxx"},
		{"key value sslpassword", "host=db sslpassword=pw", "host=db sslpassword=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, MaskDatabaseURL(tt.in))
		})
	}
}
