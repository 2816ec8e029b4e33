package config

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"time"
)

// intRange is the allowed range of an integer variable. Parsing and range
// checking share it, so "four" and "0" get the same explanation.
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

// loadEnv fills every field tagged env from its variable, or from the
// default tag when the variable is unset or empty: an empty value, as left by
// `NAME=` in a manifest or a shell, means "use the default" everywhere.
func (c *Config) loadEnv() error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()

	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}

		raw := os.Getenv(name)
		if raw == "" {
			raw = t.Field(i).Tag.Get("default")
		}

		if raw == "" {
			continue
		}

		if err := setField(v.Field(i).Addr().Interface(), name, raw); err != nil {
			return err
		}
	}

	return nil
}

// setField parses raw into the field p points to.
func setField(p any, name, raw string) error {
	switch p := p.(type) {
	case *string:
		*p = raw
	case *int:
		n, err := strconv.Atoi(raw)
		r, limited := intRanges[name]
		if err != nil || (limited && (n < r.min || n > r.max)) {
			return &Error{Var: name, Value: raw, Reason: intReason(name)}
		}

		*p = n
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return &Error{Var: name, Value: raw, Reason: "must be true or false"}
		}

		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return &Error{Var: name, Value: raw, Reason: "not a duration (examples: 30s, 5m, 1h)"}
		}

		*p = d
	default:
		return fmt.Errorf("config %s: field type %T not supported", name, p)
	}

	return nil
}

func intReason(name string) string {
	if r, ok := intRanges[name]; ok {
		return r.reason()
	}

	return "must be an integer"
}

// IsSet reports whether the variable name holds a value, by the rule Load
// applies: a variable set to the empty string is unset, and its default
// applies.
func IsSet(name string) bool {
	return os.Getenv(name) != ""
}
