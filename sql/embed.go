// Package sql embeds the reporting views. Each file holds one view: it drops
// the view (CASCADE, so that a change of columns can be applied), creates it,
// and comments on the view and its columns. internal/db applies them all in
// name order after the migrations, in one transaction, when their hash
// changes. No view depends on another, so the order does not matter.
package sql

import "embed"

// FS holds every *.sql view file.
//
//go:embed *.sql
var FS embed.FS
