package config

import (
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Var documents one environment variable.
type Var struct {
	Name    string
	Default string
	Meaning string
	Secret  bool
}

// Vars is every variable the exporter reads, in the order of DESIGN
// section 3. `exporter config` prints it and the README mirrors it.
var Vars = []Var{
	{"DATABASE_URL", "libpq defaults (PG* variables)", "PostgreSQL connection string (URL or key=value)", true},
	{"MONGODB_ATLAS_CLIENT_ID", "", "service account client id (OAuth 2.0 client credentials), preferred", true},
	{"MONGODB_ATLAS_CLIENT_SECRET", "", "service account client secret", true},
	{"MONGODB_ATLAS_PUBLIC_API_KEY", "", "programmatic API key, public part (HTTP Digest), legacy", true},
	{"MONGODB_ATLAS_PRIVATE_API_KEY", "", "programmatic API key, private part", true},
	{"MONGODB_ATLAS_BASE_URL", "https://cloud.mongodb.com", "Atlas endpoint; plain http only to a loopback address (the simulator)", false},
	{"EXPORTER_TARGETS", "(required for run/serve)", "comma-separated GROUPID or GROUPID/NAME; optional flex: or serverless: prefix pins the API family", false},
	{"EXPORTER_SCHEDULE", "@hourly", "cron spec for serve; CRON_TZ=Area/City prefix allowed", false},
	{"EXPORTER_CONCURRENCY", "4", "targets exported at once (1 to 64)", false},
	{"EXPORTER_PAGE_SIZE", "500", "itemsPerPage, 1 to 500", false},
	{"EXPORTER_RATE_LIMIT", "400", "requests per minute per project, kept below Atlas's own bucket", false},
	{"EXPORTER_REQUEST_TIMEOUT", "30s", "timeout of each HTTP request", false},
	{"EXPORTER_RUN_TIMEOUT", "50m", "timeout of a whole run", false},
	{"EXPORTER_STATEMENT_TIMEOUT", "2m", "PostgreSQL statement_timeout of the exporter's sessions", false},
	{"EXPORTER_MAX_RETRIES", "5", "retries per request for 429, 5xx and network errors (0 to 20)", false},
	{"EXPORTER_DB_SCHEMA", "atlas_backup", "schema that holds every table and view", false},
	{"EXPORTER_SHARD", "0/1", "i/n: export the targets whose stable hash falls in shard i", false},
	{"EXPORTER_SHARD_COUNT", "", "with JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs): the number of shards", false},
	{"JOB_COMPLETION_INDEX", "", "set by Kubernetes Indexed Jobs; overrides EXPORTER_SHARD's index", false},
	{"EXPORTER_LISTEN_ADDR", ":9090", "serve only: address of /healthz, /readyz and /metrics", false},
	{"EXPORTER_RUN_ON_START", "true", "serve only: run a pass at start, before the first tick", false},
	{"EXPORTER_SHUTDOWN_TIMEOUT", "25s", "after SIGTERM or SIGINT, the most the process waits for the pass to stop before it exits", false},
	{"EXPORTER_PUSHGATEWAY_URL", "", "run only: Prometheus Pushgateway that receives the run's metrics at the end", false},
	{"LOG_LEVEL", "info", "debug, info, warn or error", false},
	{"LOG_FORMAT", "json (text on a terminal)", "json or text", false},
}

// Current returns the variable's value in the environment, with secrets
// masked: a set secret shows as "(set)", a database URL keeps everything but
// its password.
func (v Var) Current() string {
	value, ok := os.LookupEnv(v.Name)
	file, fileOK := os.LookupEnv(v.Name + "_FILE")

	switch {
	case !ok && fileOK:
		return "(from file " + file + ")"
	case !ok:
		return ""
	case v.Name == "DATABASE_URL", v.Name == "EXPORTER_PUSHGATEWAY_URL":
		return MaskDatabaseURL(value)
	case v.Secret:
		return "(set)"
	default:
		return value
	}
}

// keywordPassword finds password and sslpassword values of key=value
// connection strings: spaces around '=' allowed, the value quoted (even
// left unterminated) or not.
var keywordPassword = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*(?:'|$)|\S+)`)

// MaskDatabaseURL hides the passwords of a PostgreSQL connection string, in
// URL form (user info and password or sslpassword parameters) or key=value
// form. A URL that does not parse is hidden whole.
func MaskDatabaseURL(s string) string {
	if !strings.Contains(s, "://") {
		return keywordPassword.ReplaceAllString(s, "${1}xxxxx")
	}

	u, err := url.Parse(s)
	if err != nil {
		return "(not a valid URL)"
	}

	q := u.Query()
	masked := false
	for key := range q {
		if strings.EqualFold(key, "password") || strings.EqualFold(key, "sslpassword") {
			q[key] = []string{"xxxxx"}
			masked = true
		}
	}

	if masked {
		u.RawQuery = q.Encode()
	}

	return u.Redacted()
}
