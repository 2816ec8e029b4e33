package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// validate checks every value and parses the structured ones, in the order
// the variables are documented.
func (c *Config) validate() error {
	steps := []func() error{
		c.validateCredentials,
		c.validateBaseURL,
		c.parseTargets,
		c.validateSchedule,
		c.validateDurations,
		c.validateSchema,
		c.parseShard,
		c.validatePushgateway,
		c.validateLogging,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}

	return nil
}

func (c *Config) validateCredentials() error {
	pairs := []struct{ a, b string }{
		{"MONGODB_ATLAS_CLIENT_ID", "MONGODB_ATLAS_CLIENT_SECRET"},
		{"MONGODB_ATLAS_PUBLIC_API_KEY", "MONGODB_ATLAS_PRIVATE_API_KEY"},
	}
	values := map[string]string{
		"MONGODB_ATLAS_CLIENT_ID":       c.ClientID,
		"MONGODB_ATLAS_CLIENT_SECRET":   c.ClientSecret,
		"MONGODB_ATLAS_PUBLIC_API_KEY":  c.PublicKey,
		"MONGODB_ATLAS_PRIVATE_API_KEY": c.PrivateKey,
	}
	for _, p := range pairs {
		switch {
		case values[p.a] != "" && values[p.b] == "":
			return &Error{Var: p.b, Reason: "required when " + p.a + " is set"}
		case values[p.a] == "" && values[p.b] != "":
			return &Error{Var: p.a, Reason: "required when " + p.b + " is set"}
		}
	}

	return nil
}

// validateBaseURL refuses anything but https, except plain http to a
// loopback address (the simulator), so credentials never cross a network
// in clear text.
func (c *Config) validateBaseURL() error {
	const name = "MONGODB_ATLAS_BASE_URL"

	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return &Error{Var: name, Value: c.BaseURL, Reason: "not an absolute http(s) URL such as https://cloud.mongodb.com"}
	}

	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return &Error{Var: name, Value: u.Redacted(), Reason: "must be scheme and host only, without user, path or query"}
	}

	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return &Error{Var: name, Value: c.BaseURL, Reason: "plain http is allowed only for a loopback address; use https"}
	}

	c.BaseURL = u.Scheme + "://" + u.Host

	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}

	ip := net.ParseIP(host)

	return ip != nil && ip.IsLoopback()
}

func (c *Config) parseTargets() error {
	if strings.TrimSpace(c.TargetsSpec) == "" {
		return nil
	}

	targets, err := ParseTargets(c.TargetsSpec)
	if err != nil {
		return &Error{Var: "EXPORTER_TARGETS", Value: c.TargetsSpec, Reason: err.Error()}
	}

	c.Targets = targets

	return nil
}

func (c *Config) validateSchedule() error {
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	if _, err := parser.Parse(c.Schedule); err != nil {
		return &Error{Var: "EXPORTER_SCHEDULE", Value: c.Schedule, Reason: err.Error() + " (five fields, or a descriptor such as @hourly; CRON_TZ=Area/City prefix allowed)"}
	}

	return nil
}

// validateDurations checks durationRanges; the integers were checked as
// they were read (see setField), and the defaults are inside every range.
func (c *Config) validateDurations() error {
	durations := []struct {
		name  string
		value time.Duration
	}{
		{"EXPORTER_REQUEST_TIMEOUT", c.RequestTimeout},
		{"EXPORTER_RUN_TIMEOUT", c.RunTimeout},
		{"EXPORTER_STATEMENT_TIMEOUT", c.StatementTimeout},
		{"EXPORTER_SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
	}
	for _, d := range durations {
		r := durationRanges[d.name]
		if d.value < r.min || (r.max > 0 && d.value > r.max) {
			return &Error{Var: d.name, Value: d.value.String(), Reason: r.reason()}
		}
	}

	return nil
}

// validateSchema accepts a plain lower-case identifier outside the names
// PostgreSQL keeps for itself: pg_* schemas cannot be created, and
// information_schema belongs to the system.
func (c *Config) validateSchema() error {
	const name = "EXPORTER_DB_SCHEMA"

	if !schemaPattern.MatchString(c.Schema) {
		return &Error{Var: name, Value: c.Schema, Reason: "must be a lower-case SQL identifier (letters, digits, underscore; 63 at most)"}
	}

	if strings.HasPrefix(c.Schema, "pg_") || c.Schema == "information_schema" {
		return &Error{Var: name, Value: c.Schema, Reason: "is reserved by PostgreSQL (pg_* and information_schema); choose another name"}
	}

	return nil
}

// parseShard sets the shard from EXPORTER_SHARD or, in a Kubernetes Indexed
// Job, from JOB_COMPLETION_INDEX.
func (c *Config) parseShard() error {
	spec, err := ParseShard(c.ShardSpec)
	if err != nil {
		return &Error{Var: "EXPORTER_SHARD", Value: c.ShardSpec, Reason: err.Error()}
	}

	if c.JobIndex != "" {
		return c.parseJobIndex(spec)
	}

	if c.ShardCount != 0 {
		return &Error{
			Var: "EXPORTER_SHARD_COUNT", Value: strconv.Itoa(c.ShardCount),
			Reason: "only used with JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs); use EXPORTER_SHARD=i/n",
		}
	}

	c.Shard = spec

	return nil
}

// parseJobIndex derives the shard from a Kubernetes Indexed Job: the
// completion index replaces EXPORTER_SHARD's index, and the count comes from
// EXPORTER_SHARD_COUNT or else EXPORTER_SHARD's n.
func (c *Config) parseJobIndex(spec Shard) error {
	count, err := c.jobShardCount(spec)
	if err != nil {
		return err
	}

	i, err := strconv.Atoi(c.JobIndex)
	if err != nil || i < 0 || i >= count {
		return &Error{Var: "JOB_COMPLETION_INDEX", Value: c.JobIndex, Reason: fmt.Sprintf("must be an integer from 0 to %d", count-1)}
	}

	c.Shard = Shard{Index: i, Count: count}

	return nil
}

// jobShardCount is the number of shards of an Indexed Job. EXPORTER_SHARD
// counts as a source only with n > 1, its default 0/1 saying nothing.
func (c *Config) jobShardCount(spec Shard) (int, error) {
	switch {
	case c.ShardCount != 0 && spec.Count > 1 && spec.Count != c.ShardCount:
		return 0, &Error{
			Var: "EXPORTER_SHARD_COUNT", Value: strconv.Itoa(c.ShardCount),
			Reason: fmt.Sprintf("differs from the n of EXPORTER_SHARD=%s; set one of them", c.ShardSpec),
		}
	case c.ShardCount != 0:
		return c.ShardCount, nil
	case spec.Count > 1:
		return spec.Count, nil
	default:
		return 0, &Error{
			Var:    "EXPORTER_SHARD_COUNT",
			Reason: "required when JOB_COMPLETION_INDEX is set: the job's completions (or give EXPORTER_SHARD=i/n)",
		}
	}
}

// validatePushgateway accepts an absolute http(s) URL; a path is allowed,
// since a Pushgateway may sit behind a prefix.
func (c *Config) validatePushgateway() error {
	if c.PushgatewayURL == "" {
		return nil
	}

	u, err := url.Parse(c.PushgatewayURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return &Error{
			Var: "EXPORTER_PUSHGATEWAY_URL", Value: MaskURL(c.PushgatewayURL),
			Reason: "not an absolute http(s) URL without query or fragment, such as http://pushgateway:9091",
		}
	}

	return nil
}

// validateLogging accepts the level and format in any case and leaves them
// in lower case.
func (c *Config) validateLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return &Error{Var: "LOG_LEVEL", Value: c.LogLevel, Reason: "must be debug, info, warn or error"}
	}

	c.LogLevel = strings.ToLower(c.LogLevel)

	switch format := strings.ToLower(c.LogFormat); format {
	case "", "json", "text":
		c.LogFormat = format

		return nil
	default:
		return &Error{Var: "LOG_FORMAT", Value: c.LogFormat, Reason: "must be json or text"}
	}
}
