package config

import (
	"net/url"
	"os"
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
	{"EXPORTER_RATE_LIMIT", "400", "requests per minute per project, kept below Atlas's own bucket (1 to 100000)", false},
	{"EXPORTER_REQUEST_TIMEOUT", "30s", "timeout of each HTTP request (100ms or more)", false},
	{"EXPORTER_RUN_TIMEOUT", "50m", "timeout of a whole run (1s or more)", false},
	{"EXPORTER_STATEMENT_TIMEOUT", "2m", "PostgreSQL statement_timeout of the exporter's sessions (100ms or more)", false},
	{"EXPORTER_MAX_RETRIES", "5", "retries per request for 429, 5xx and network errors (0 to 20)", false},
	{"EXPORTER_DB_SCHEMA", "atlas_backup", "schema that holds every table and view; not pg_* or information_schema", false},
	{"EXPORTER_SHARD", "0/1", "i/n: export the targets whose stable hash falls in shard i", false},
	{"EXPORTER_SHARD_COUNT", "", "with JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs): the number of shards; EXPORTER_SHARD's n when unset", false},
	{"JOB_COMPLETION_INDEX", "", "set by Kubernetes Indexed Jobs; overrides EXPORTER_SHARD's index", false},
	{"EXPORTER_LISTEN_ADDR", ":9090", "serve only: address of /healthz, /readyz and /metrics", false},
	{"EXPORTER_RUN_ON_START", "true", "serve only: run a pass at start, before the first tick", false},
	{"EXPORTER_SHUTDOWN_TIMEOUT", "25s", "after SIGTERM or SIGINT, the most the process waits for the pass to stop before it exits (1s or more)", false},
	{"EXPORTER_PUSHGATEWAY_URL", "", "run only: Prometheus Pushgateway that receives the run's metrics at the end", false},
	{"LOG_LEVEL", "info", "debug, info, warn or error, in any case", false},
	{"LOG_FORMAT", "json (text on a terminal)", "json or text, in any case", false},
}

// Current returns the variable's value in the environment, with secrets
// masked: a set secret shows as "(set)", a database URL keeps everything but
// its passwords, the Pushgateway URL hides its user info and query values.
// An empty value is unset, as for Load.
func (v Var) Current() string {
	value := os.Getenv(v.Name)
	file := os.Getenv(v.Name + "_FILE")

	switch {
	case value == "" && file != "" && v.Secret:
		return "(from file " + file + ")"
	case value == "":
		return ""
	case v.Name == "DATABASE_URL":
		return MaskDatabaseURL(value)
	case v.Name == "EXPORTER_PUSHGATEWAY_URL":
		return MaskURL(value)
	case v.Secret:
		return "(set)"
	default:
		return value
	}
}

// masked replaces every secret that is shown masked.
const masked = "xxxxx"

// hiddenConnString is what MaskDatabaseURL shows for a value it cannot
// take apart: such a value may be a password alone, or a URL whose password
// cannot be found.
const hiddenConnString = "(hidden: not a parseable connection string)"

// MaskDatabaseURL hides the passwords of a PostgreSQL connection string, in
// URL form (user info, password and sslpassword parameters) or key=value
// form. A value that is neither a URL with a scheme nor a key=value list in
// which every field has '=' is hidden whole.
func MaskDatabaseURL(s string) string {
	if s == "" {
		return ""
	}

	if strings.Contains(s, "://") {
		return maskConnURL(s)
	}

	return maskKeywords(s)
}

// maskConnURL masks a connection URL's password and password parameters.
// An '@' outside the user info means a password with an unescaped '/', '?'
// or '#' cut the URL short: where its pieces went cannot be told, so the
// value is hidden.
func maskConnURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return hiddenConnString
	}

	_, rest, _ := strings.Cut(s, "://")
	if u.User == nil && strings.Contains(rest, "@") {
		return hiddenConnString
	}

	q := u.Query()
	found := false
	for key := range q {
		if isPasswordKey(key) {
			q[key] = []string{masked}
			found = true
		}
	}

	if found {
		u.RawQuery = q.Encode()
	}

	return u.Redacted()
}

// maskKeywords masks the password fields of a key=value connection string,
// keeping the rest as written.
func maskKeywords(s string) string {
	fields, ok := splitKeywords(s)
	if !ok {
		return hiddenConnString
	}

	var b strings.Builder
	last := 0
	for _, f := range fields {
		if isPasswordKey(f.key) {
			b.WriteString(s[last:f.valueStart])
			b.WriteString(masked)
			last = f.valueEnd
		}
	}
	b.WriteString(s[last:])

	return b.String()
}

func isPasswordKey(key string) bool {
	return strings.EqualFold(key, "password") || strings.EqualFold(key, "sslpassword")
}

// keyword is one key=value field; valueStart and valueEnd delimit the value
// as written, quotes included.
type keyword struct {
	key                  string
	valueStart, valueEnd int
}

// splitKeywords splits a libpq key=value string: fields separated by white
// space, spaces allowed around '=', values single-quoted with backslash
// escapes or bare. It reports false unless every field is well formed.
func splitKeywords(s string) ([]keyword, bool) {
	var fields []keyword

	i := skipSpace(s, 0)
	for i < len(s) {
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}

		key := s[start:i]
		i = skipSpace(s, i)
		if key == "" || i >= len(s) || s[i] != '=' {
			return nil, false
		}

		i = skipSpace(s, i+1)
		end, ok := valueEnd(s, i)
		if !ok {
			return nil, false
		}

		fields = append(fields, keyword{key: key, valueStart: i, valueEnd: end})
		i = skipSpace(s, end)
	}

	return fields, len(fields) > 0
}

// valueEnd finds the end of the value starting at i: a quoted value ends
// after its closing quote, a bare one at white space.
func valueEnd(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '\'' {
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '\'':
				return j + 1, true
			}
		}

		return 0, false
	}

	for i < len(s) && !isSpace(s[i]) {
		i++
	}

	return i, true
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}

	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// MaskURL shows a URL such as EXPORTER_PUSHGATEWAY_URL without its
// credentials: the user info and every query value become xxxxx, a fragment
// is dropped. A value that does not parse as an absolute URL is hidden whole.
func MaskURL(s string) string {
	if s == "" {
		return ""
	}

	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "(hidden: not a parseable URL)"
	}

	if u.User != nil {
		u.User = url.User(masked)
	}

	if u.RawQuery != "" {
		u.RawQuery = maskQuery(u.RawQuery)
	}

	u.Fragment, u.RawFragment = "", ""

	return u.String()
}

// maskQuery keeps the keys of a raw query and replaces every value; a part
// without '=' may be a bare token, and is replaced whole.
func maskQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		parts[i] = masked
		if key, _, ok := strings.Cut(p, "="); ok {
			parts[i] = key + "=" + masked
		}
	}

	return strings.Join(parts, "&")
}
