package db

// Advisory locks are keyed by a 64-bit hash of a readable name that includes
// the schema, so that two exporters sharing a database in different schemas
// never wait for each other:
//
//	atlas-snapshot-exporter:<schema>:target:<project>/<name>  one target's merge (transaction lock)
//	atlas-snapshot-exporter:<schema>:run:<id>                 a live run (session lock, see StartRun)
//	atlas-snapshot-exporter:<schema>:schema                   schema creation and views (transaction lock)
//
// golang-migrate takes its own lock on the migrations table.

const (
	lockKindTarget = "target"
	lockKindRun    = "run"
	lockKindSchema = "schema"
)

// lockName builds the text that PostgreSQL hashes into the lock key.
func (d *DB) lockName(kind, name string) string {
	s := "atlas-snapshot-exporter:" + d.schema + ":" + kind
	if name != "" {
		s += ":" + name
	}

	return s
}
