// Package config reads the exporter's settings from the environment and
// validates them before any I/O, so a bad value stops the process at start-up
// with a message that names the variable.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// Config is every setting of DESIGN section 3. Field tags name the variables
// and their defaults (see loadEnv); Vars documents them.
type Config struct {
	DatabaseURL string `envconfig:"DATABASE_URL"`

	ClientID     string `envconfig:"MONGODB_ATLAS_CLIENT_ID"`
	ClientSecret string `envconfig:"MONGODB_ATLAS_CLIENT_SECRET"`
	PublicKey    string `envconfig:"MONGODB_ATLAS_PUBLIC_API_KEY"`
	PrivateKey   string `envconfig:"MONGODB_ATLAS_PRIVATE_API_KEY"`
	BaseURL      string `envconfig:"MONGODB_ATLAS_BASE_URL" default:"https://cloud.mongodb.com"`

	TargetsSpec      string        `envconfig:"EXPORTER_TARGETS"`
	Schedule         string        `envconfig:"EXPORTER_SCHEDULE" default:"@hourly"`
	Concurrency      int           `envconfig:"EXPORTER_CONCURRENCY" default:"4"`
	PageSize         int           `envconfig:"EXPORTER_PAGE_SIZE" default:"500"`
	RateLimit        int           `envconfig:"EXPORTER_RATE_LIMIT" default:"400"`
	RequestTimeout   time.Duration `envconfig:"EXPORTER_REQUEST_TIMEOUT" default:"30s"`
	RunTimeout       time.Duration `envconfig:"EXPORTER_RUN_TIMEOUT" default:"50m"`
	StatementTimeout time.Duration `envconfig:"EXPORTER_STATEMENT_TIMEOUT" default:"2m"`
	MaxRetries       int           `envconfig:"EXPORTER_MAX_RETRIES" default:"5"`
	Schema           string        `envconfig:"EXPORTER_DB_SCHEMA" default:"atlas_backup"`
	ShardSpec        string        `envconfig:"EXPORTER_SHARD" default:"0/1"`
	ShardCount       int           `envconfig:"EXPORTER_SHARD_COUNT"`
	JobIndex         string        `envconfig:"JOB_COMPLETION_INDEX"`
	ListenAddr       string        `envconfig:"EXPORTER_LISTEN_ADDR" default:":9090"`
	RunOnStart       bool          `envconfig:"EXPORTER_RUN_ON_START" default:"true"`
	ShutdownTimeout  time.Duration `envconfig:"EXPORTER_SHUTDOWN_TIMEOUT" default:"25s"`
	PushgatewayURL   string        `envconfig:"EXPORTER_PUSHGATEWAY_URL"`
	LogLevel         string        `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat        string        `envconfig:"LOG_FORMAT"`

	// Targets is TargetsSpec parsed.
	Targets []atlas.Target `ignored:"true"`
	// Shard is ShardSpec (or JOB_COMPLETION_INDEX) parsed.
	Shard Shard `ignored:"true"`
}

// Error is a configuration value that cannot be used. Its message names the
// variable and the value (masked when secret), which is all an operator
// needs to fix it.
type Error struct {
	Var    string
	Value  string
	Reason string
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("config %s: %s", e.Var, e.Reason)
	}

	return fmt.Sprintf("config %s=%q: %s", e.Var, e.Value, e.Reason)
}

// Load reads the process environment, resolves NAME_FILE secrets and
// validates every value. A variable set to the empty string counts as unset.
// It does no network or database I/O.
func Load() (Config, error) {
	if err := rejectEmpty(); err != nil {
		return Config{}, err
	}

	var c Config
	if err := c.loadEnv(); err != nil {
		return Config{}, err
	}

	if err := c.readSecretFiles(); err != nil {
		return Config{}, err
	}

	if err := c.validate(); err != nil {
		return Config{}, err
	}

	return c, nil
}

// mustNotBeEmpty are the variables whose empty value would quietly mean
// something else: an empty DATABASE_URL (an empty key in a Kubernetes
// secret) would export into whatever database the libpq defaults reach, an
// empty listen address would serve the probes on a random port.
var mustNotBeEmpty = map[string]string{
	"DATABASE_URL":         "unset it to use the libpq defaults (PG* variables)",
	"EXPORTER_LISTEN_ADDR": "unset it to use :9090",
}

func rejectEmpty() error {
	for name, hint := range mustNotBeEmpty {
		if v, ok := os.LookupEnv(name); ok && v == "" {
			return &Error{Var: name, Reason: "set but empty: " + hint}
		}
	}

	return nil
}

// readSecretFiles fills each secret from NAME_FILE when that is set, as
// Kubernetes secret mounts expect.
func (c *Config) readSecretFiles() error {
	for _, s := range c.secrets() {
		name := s.name + "_FILE"
		path, ok := os.LookupEnv(name)
		if !ok {
			continue
		}

		if path == "" {
			return &Error{Var: name, Reason: "set but empty: give a file path, or unset it"}
		}

		if *s.field != "" {
			return &Error{Var: name, Value: path, Reason: "set " + s.name + " or " + name + ", not both"}
		}

		value, err := readSecretFile(name, path)
		if err != nil {
			return err
		}

		*s.field = value
	}

	return nil
}

// maxSecretFile caps what a NAME_FILE may hold: a secret is one short value,
// and a path mistaken for a secret (a log, /dev/zero) must not be read whole.
const maxSecretFile = 64 << 10

// readSecretFile reads one NAME_FILE without its trailing line break.
func readSecretFile(name, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &Error{Var: name, Value: path, Reason: "cannot read the file: " + pathErrReason(err)}
	}
	defer f.Close()

	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", &Error{Var: name, Value: path, Reason: "cannot read the file: " + pathErrReason(err)}
	}

	if len(b) > maxSecretFile {
		return "", &Error{Var: name, Value: path, Reason: "file is larger than 64 KiB; it should hold the secret alone"}
	}

	value := strings.TrimRight(string(b), "\r\n")
	if value == "" {
		return "", &Error{Var: name, Value: path, Reason: "file is empty"}
	}

	return value, nil
}

type secretField struct {
	name  string
	field *string
}

func (c *Config) secrets() []secretField {
	return []secretField{
		{"DATABASE_URL", &c.DatabaseURL},
		{"MONGODB_ATLAS_CLIENT_ID", &c.ClientID},
		{"MONGODB_ATLAS_CLIENT_SECRET", &c.ClientSecret},
		{"MONGODB_ATLAS_PUBLIC_API_KEY", &c.PublicKey},
		{"MONGODB_ATLAS_PRIVATE_API_KEY", &c.PrivateKey},
	}
}

func pathErrReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}

	return err.Error()
}

// RequireExport checks what only exporting commands (run, serve) need:
// at least one target and one complete Atlas credential.
func (c Config) RequireExport() error {
	if len(c.Targets) == 0 {
		return &Error{Var: "EXPORTER_TARGETS", Reason: "required: comma-separated GROUPID or GROUPID/NAME"}
	}

	if c.ClientID == "" && c.PublicKey == "" {
		return &Error{
			Var:    "MONGODB_ATLAS_CLIENT_ID",
			Reason: "no Atlas credential: set MONGODB_ATLAS_CLIENT_ID and MONGODB_ATLAS_CLIENT_SECRET (service account) or MONGODB_ATLAS_PUBLIC_API_KEY and MONGODB_ATLAS_PRIVATE_API_KEY (API key)",
		}
	}

	return nil
}

// UseServiceAccount reports whether the OAuth service account is the
// credential in use; it is preferred when both kinds are set.
func (c Config) UseServiceAccount() bool {
	return c.ClientID != ""
}
