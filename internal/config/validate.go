package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

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
		c.validateNumbers,
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

func (c *Config) validateNumbers() error {
	ints := []struct {
		name     string
		value    int
		min, max int
	}{
		{"EXPORTER_CONCURRENCY", c.Concurrency, 1, 64},
		{"EXPORTER_PAGE_SIZE", c.PageSize, 1, 500},
		{"EXPORTER_RATE_LIMIT", c.RateLimit, 1, 100000},
		{"EXPORTER_MAX_RETRIES", c.MaxRetries, 0, 20},
	}
	for _, v := range ints {
		if v.value < v.min || v.value > v.max {
			return &Error{Var: v.name, Value: strconv.Itoa(v.value), Reason: fmt.Sprintf("must be between %d and %d", v.min, v.max)}
		}
	}

	durations := []struct {
		name  string
		value fmt.Stringer
		ok    bool
	}{
		{"EXPORTER_REQUEST_TIMEOUT", c.RequestTimeout, c.RequestTimeout > 0},
		{"EXPORTER_RUN_TIMEOUT", c.RunTimeout, c.RunTimeout > 0},
		{"EXPORTER_STATEMENT_TIMEOUT", c.StatementTimeout, c.StatementTimeout > 0},
		{"EXPORTER_SHUTDOWN_TIMEOUT", c.ShutdownTimeout, c.ShutdownTimeout > 0},
	}
	for _, d := range durations {
		if !d.ok {
			return &Error{Var: d.name, Value: d.value.String(), Reason: "must be a positive duration"}
		}
	}

	return nil
}

func (c *Config) validateSchema() error {
	if !schemaPattern.MatchString(c.Schema) {
		return &Error{Var: "EXPORTER_DB_SCHEMA", Value: c.Schema, Reason: "must be a lower-case SQL identifier (letters, digits, underscore; 63 at most)"}
	}

	return nil
}

func (c *Config) parseShard() error {
	if c.JobIndex != "" {
		return c.parseJobIndex()
	}

	s, err := ParseShard(c.ShardSpec)
	if err != nil {
		return &Error{Var: "EXPORTER_SHARD", Value: c.ShardSpec, Reason: err.Error()}
	}

	c.Shard = s

	return nil
}

// parseJobIndex derives the shard from a Kubernetes Indexed Job, whose
// completion index pairs with EXPORTER_SHARD_COUNT.
func (c *Config) parseJobIndex() error {
	if c.ShardCount < 1 {
		return &Error{Var: "EXPORTER_SHARD_COUNT", Value: strconv.Itoa(c.ShardCount), Reason: "must be set to the job's completions (1 or more) when JOB_COMPLETION_INDEX is set"}
	}

	i, err := strconv.Atoi(c.JobIndex)
	if err != nil || i < 0 || i >= c.ShardCount {
		return &Error{Var: "JOB_COMPLETION_INDEX", Value: c.JobIndex, Reason: fmt.Sprintf("must be an integer from 0 to %d", c.ShardCount-1)}
	}

	c.Shard = Shard{Index: i, Count: c.ShardCount}

	return nil
}

// validatePushgateway accepts an absolute http(s) URL; a path is allowed,
// since a Pushgateway may sit behind a prefix.
func (c *Config) validatePushgateway() error {
	if c.PushgatewayURL == "" {
		return nil
	}

	u, err := url.Parse(c.PushgatewayURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		return &Error{Var: "EXPORTER_PUSHGATEWAY_URL", Value: redactURL(c.PushgatewayURL), Reason: "not an absolute http(s) URL such as http://pushgateway:9091"}
	}

	return nil
}

// redactURL hides a password in a URL's user info, if it parses at all.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}

	return "(unparsable)"
}

func (c *Config) validateLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return &Error{Var: "LOG_LEVEL", Value: c.LogLevel, Reason: "must be debug, info, warn or error"}
	}

	switch c.LogFormat {
	case "", "json", "text":
		return nil
	default:
		return &Error{Var: "LOG_FORMAT", Value: c.LogFormat, Reason: "must be json or text"}
	}
}
