package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// intRange is the allowed range of an integer variable. setField checks it
// as it parses, so "four" and "0" get the same explanation.
type intRange struct{ min, max int }

func (r intRange) reason() string {
	return fmt.Sprintf("must be an integer between %d and %d", r.min, r.max)
}

// intRanges holds every integer variable. EXPORTER_SHARD_COUNT's upper bound
// is Kubernetes' own limit on an Indexed Job's completions.
var intRanges = map[string]intRange{
	"EXPORTER_CONCURRENCY": {1, 64},
	"EXPORTER_PAGE_SIZE":   {1, 500},
	"EXPORTER_RATE_LIMIT":  {1, 100000},
	"EXPORTER_MAX_RETRIES": {0, 20},
	"EXPORTER_SHARD_COUNT": {1, 100000},
}

// durationRange is the allowed range of a duration variable; a zero max means
// no upper bound.
type durationRange struct{ min, max time.Duration }

func (r durationRange) reason() string {
	if r.max == 0 {
		return fmt.Sprintf("must be a duration of at least %s (examples: 30s, 5m, 1h)", r.min)
	}

	return fmt.Sprintf("must be a duration between %s and %s (examples: 30s, 5m, 1h)", r.min, r.max)
}

// durationRanges holds every duration variable. The minimums stop values that
// look like a setting but act like none: PostgreSQL reads a statement_timeout
// under 1ms as 0, no timeout at all, and a run or request given a few
// microseconds fails before it starts. PostgreSQL refuses a statement_timeout
// above 2^31-1 ms at connection time.
var durationRanges = map[string]durationRange{
	"EXPORTER_REQUEST_TIMEOUT":   {min: 100 * time.Millisecond},
	"EXPORTER_RUN_TIMEOUT":       {min: time.Second},
	"EXPORTER_STATEMENT_TIMEOUT": {min: 100 * time.Millisecond, max: math.MaxInt32 * time.Millisecond},
	"EXPORTER_SHUTDOWN_TIMEOUT":  {min: time.Second},
}

// loadEnv fills every field from its variable with envconfig (the default
// tag applies when the variable is unset), then checks the ranges. A
// variable set to the empty string counts as set: a number or duration then
// fails with its rule, rather than silently meaning the default.
func (c *Config) loadEnv() error {
	if err := envconfig.Process("", c); err != nil {
		return fromEnvconfig(err)
	}

	return c.checkRanges()
}

// fromEnvconfig turns envconfig's parse error into an Error that names the
// variable, the offending value and the rule.
func fromEnvconfig(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read environment: %w", err)
	}

	return &Error{Var: pe.KeyName, Value: pe.Value, Reason: parseReason(pe.KeyName, pe.TypeName)}
}

func parseReason(name, typeName string) string {
	switch {
	case strings.Contains(typeName, "Duration"):
		return "not a duration (examples: 30s, 5m, 1h)"
	case typeName == "bool":
		return "must be true or false"
	default:
		return intReason(name)
	}
}

// checkRanges applies intRanges and durationRanges to the parsed values.
func (c *Config) checkRanges() error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()

	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("envconfig")
		switch f := v.Field(i).Interface().(type) {
		case time.Duration:
			if r, ok := durationRanges[name]; ok && (f < r.min || (r.max > 0 && f > r.max)) {
				return &Error{Var: name, Value: f.String(), Reason: r.reason()}
			}
		case int:
			if r, ok := intRanges[name]; ok && isSet(name) && (f < r.min || f > r.max || !decimal(name, f)) {
				return &Error{Var: name, Value: valueOf(name, f), Reason: r.reason()}
			}
		}
	}

	return nil
}

// decimal reports whether the variable name, when given, reads as f in
// plain decimal: envconfig also takes Go's literals, so "010" would be 8
// and "0x10" 16.
func decimal(name string, f int) bool {
	raw, ok := os.LookupEnv(name)
	if !ok {
		return true
	}

	n, err := strconv.Atoi(strings.TrimSpace(raw))

	return err == nil && n == f
}

// valueOf is the variable's value as given, or f when it has none.
func valueOf(name string, f int) string {
	if raw, ok := os.LookupEnv(name); ok {
		return raw
	}

	return strconv.Itoa(f)
}

func intReason(name string) string {
	if r, ok := intRanges[name]; ok {
		return r.reason()
	}

	return "must be an integer"
}

// IsSet reports whether the variable name is set in the environment (an
// empty value counts as set), or has a default.
func IsSet(name string) bool {
	_, ok := os.LookupEnv(name)

	return ok
}

// isSet is IsSet, or a default that applies: EXPORTER_SHARD_COUNT, with no
// default, is only checked when given.
func isSet(name string) bool {
	if IsSet(name) {
		return true
	}

	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("envconfig") == name {
			return t.Field(i).Tag.Get("default") != ""
		}
	}

	return false
}
