// Package migrations embeds the golang-migrate files that create the exporter's
// tables. Table names are unqualified: the exporter sets search_path to its
// schema, and users of the migrate CLI put search_path in their URL.
package migrations

import "embed"

// FS holds every *.sql migration file, in golang-migrate's NNNN_name.up.sql
// and NNNN_name.down.sql naming.
//
//go:embed *.sql
var FS embed.FS
