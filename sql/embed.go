// Package sql embeds the reporting views. Each file holds one view, written
// as CREATE OR REPLACE VIEW with COMMENT ON for the view and its columns;
// internal/db applies them all in name order after the migrations.
package sql

import "embed"

// FS holds every *.sql view file.
//
//go:embed *.sql
var FS embed.FS
