package config

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// FuzzParseTargets: whatever EXPORTER_TARGETS holds, a target that comes
// out is one Atlas could have (a 24-hex project id, a name that escaping
// leaves alone, a known family), and writing the targets back and parsing
// them again gives the same list. Seed corpus in testdata/fuzz.
func FuzzParseTargets(f *testing.F) {
	for _, seed := range []string{
		project, "flex:" + project + "/prod-eu", "serverless:" + project + "/a," + project,
		project + "/a%2Fb", project + "/a?x", project + "/../b", " , ", "flex:", project + "/" + strings.Repeat("a", 65),
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, spec string) {
		targets, err := ParseTargets(spec)
		if err != nil {
			return
		}

		items := make([]string, 0, len(targets))
		for _, tg := range targets {
			checkTarget(t, spec, tg)
			items = append(items, formatTarget(tg))
		}

		again, err := ParseTargets(strings.Join(items, ","))
		if err != nil || len(again) != len(targets) {
			t.Fatalf("%q: reparsing %q: %v", spec, items, err)
		}

		for i := range again {
			if again[i] != targets[i] {
				t.Fatalf("%q: target %d reparsed as %+v, was %+v", spec, i, again[i], targets[i])
			}
		}
	})
}

func checkTarget(t *testing.T, spec string, tg atlas.Target) {
	t.Helper()

	if len(tg.ProjectID) != 24 || strings.Trim(tg.ProjectID, "0123456789abcdef") != "" {
		t.Fatalf("%q: project id %q accepted", spec, tg.ProjectID)
	}

	if tg.Name != "" && (len(tg.Name) > atlas.MaxNameLen || url.PathEscape(tg.Name) != tg.Name || strings.ContainsAny(tg.Name, "/%?#.")) {
		t.Fatalf("%q: name %q accepted", spec, tg.Name)
	}

	if tg.Family != "" && tg.Family != atlas.Flex && tg.Family != atlas.Serverless {
		t.Fatalf("%q: family %q accepted", spec, tg.Family)
	}
}

func formatTarget(tg atlas.Target) string {
	s := tg.ProjectID
	if tg.Name != "" {
		s += "/" + tg.Name
	}

	if tg.Family != "" {
		s = string(tg.Family) + ":" + s
	}

	return s
}

// FuzzLoad runs the configuration parser over arbitrary values of the
// variables with the richest syntax. It either refuses them with an *Error
// naming a variable, never showing the secret, or returns settings that keep
// the exporter's promises: credentials over https (plain http only to
// loopback), a page size Atlas accepts, valid targets and shard.
func FuzzLoad(f *testing.F) {
	f.Add("https://cloud.mongodb.com", project, "500", "@hourly", "0/1", "atlas_backup")
	f.Add("http://127.0.0.1:8080", "flex:"+project+"/a", "1", "CRON_TZ=Europe/Paris 5 * * * *", "1/2", "s")
	f.Add("http://cloud.mongodb.com", project+"/a%2Fb", "0", "every hour", "2/2", "Robert'); DROP")
	f.Add("https://user:pw@cloud.mongodb.com/x?y#z", "", "-1", "", "", "")

	const secret = "mdb_sa_sk_FUZZ-secret-9d1c"

	f.Fuzz(func(t *testing.T, baseURL, targets, pageSize, schedule, shard, schema string) {
		env := map[string]string{
			"MONGODB_ATLAS_BASE_URL": baseURL, "EXPORTER_TARGETS": targets, "EXPORTER_PAGE_SIZE": pageSize,
			"EXPORTER_SCHEDULE": schedule, "EXPORTER_SHARD": shard, "EXPORTER_DB_SCHEMA": schema,
		}
		for _, v := range env {
			if strings.ContainsRune(v, 0) {
				return // not representable in an environment
			}
		}

		clearEnv(t)
		setEnv(t, env)
		t.Setenv("MONGODB_ATLAS_CLIENT_ID", "mdb_sa_id_fuzz")
		t.Setenv("MONGODB_ATLAS_CLIENT_SECRET", secret)

		c, err := Load()
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var == "" {
				t.Fatalf("error %v names no variable", err)
			}

			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %v shows the secret", err)
			}

			return
		}

		checkLoaded(t, c)
	})
}

func checkLoaded(t *testing.T, c Config) {
	t.Helper()

	u, err := url.Parse(c.BaseURL)
	if err != nil || !(u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname()))) || u.User != nil {
		t.Fatalf("base url %q accepted", c.BaseURL)
	}

	if c.PageSize < 1 || c.PageSize > 500 {
		t.Fatalf("page size %d accepted", c.PageSize)
	}

	if c.Shard.Count < 1 || c.Shard.Index < 0 || c.Shard.Index >= c.Shard.Count {
		t.Fatalf("shard %+v accepted", c.Shard)
	}

	for _, tg := range c.Targets {
		checkTarget(t, c.TargetsSpec, tg)
	}
}
