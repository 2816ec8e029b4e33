package main

import (
	"io"
	"strings"
	"testing"
)

// Every bad setting is refused before anything starts, naming the flag.
func TestParseFlagsRefusesBadSettings(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-preset", "huge"}, `unknown preset "huge": use 100k, 1m, latency, small`},
		{[]string{"-rounds", "0"}, "-rounds must be at least 1"},
		{[]string{"-snapshots", "-5"}, "-snapshots must be at least 1"},
		{[]string{"-concurrency", "0"}, "-concurrency must be at least 1"},
		{[]string{"-ceiling-streams", "0"}, "-ceiling-streams must be at least 1"},
		{[]string{"-instances", "7", "-projects", "2"}, "-instances (7) must divide evenly over -projects (2)"},
		{[]string{"-page-size", "501"}, "-page-size 501 outside 1..500"},
		{[]string{"-rate-limit", "0"}, "-rate-limit 0 outside 1..100000"},
		{[]string{"-latency", "-1s"}, "-latency -1s is negative"},
		{[]string{"-changed", "2"}, "-changed 2 outside 0..1"},
		{[]string{"-preset", "small", "extra"}, `unexpected argument "extra"`},
		{[]string{"-keep", "-db", ""}, "-keep needs a database server"},
	}

	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := parseFlags(c.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("parseFlags(%q) = %v, want an error containing %q", c.args, err, c.want)
			}
		})
	}
}

// A preset fills in what was not given; explicit flags win.
func TestParseFlagsPresetYieldsToFlags(t *testing.T) {
	p, err := parseFlags([]string{"-preset", "latency", "-instances", "200", "-projects", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	if p.Instances != 200 || p.Projects != 2 || p.Snapshots != 100 || p.Concurrency != 8 || p.Rounds != 1 {
		t.Fatalf("got %d instances over %d projects, %d snapshots, concurrency %d, %d rounds; want 200, 2, 100, 8, 1",
			p.Instances, p.Projects, p.Snapshots, p.Concurrency, p.Rounds)
	}
}
