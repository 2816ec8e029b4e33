package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atlas-snapshot-exporter/atlas-snapshot-exporter/internal/atlas"
)

// upsertInstanceQuery inserts a discovered instance, or updates it only when
// an attribute differs, so rediscovering unchanged instances writes nothing.
// An attribute discovery did not report (null) keeps its stored value.
const upsertInstanceQuery = `INSERT INTO instances AS i (
    project_id, name, family, state, mongodb_version, backup_enabled, raw,
    first_seen_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (project_id, name) DO UPDATE SET
    family = EXCLUDED.family,
    state = COALESCE(EXCLUDED.state, i.state),
    mongodb_version = COALESCE(EXCLUDED.mongodb_version, i.mongodb_version),
    backup_enabled = COALESCE(EXCLUDED.backup_enabled, i.backup_enabled),
    raw = COALESCE(EXCLUDED.raw, i.raw),
    updated_at = EXCLUDED.updated_at
WHERE (i.family, i.state, i.mongodb_version, i.backup_enabled, i.raw)
    IS DISTINCT FROM (EXCLUDED.family,
        COALESCE(EXCLUDED.state, i.state),
        COALESCE(EXCLUDED.mongodb_version, i.mongodb_version),
        COALESCE(EXCLUDED.backup_enabled, i.backup_enabled),
        COALESCE(EXCLUDED.raw, i.raw))`

// UpsertInstances stores what discovery found, in one transaction. New
// instances get first_seen_at = seenAt; known ones are rewritten only when an
// attribute changed. last_listed_at is left to Merge.
func (d *DB) UpsertInstances(ctx context.Context, insts []atlas.Instance, seenAt time.Time) error {
	if len(insts) == 0 {
		return nil
	}

	batch := &pgx.Batch{}
	for _, in := range insts {
		batch.Queue(upsertInstanceQuery, instanceArgs(in, seenAt)...)
	}

	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("upsert %d instances: %w", len(insts), err)
	}

	return nil
}

// instanceArgs are the parameters $1 to $8 of upsertInstanceQuery.
func instanceArgs(in atlas.Instance, at time.Time) []any {
	return []any{
		in.ProjectID, in.Name, string(in.Family),
		nullString(in.State), nullString(in.MongoDBVersion), in.BackupEnabled,
		nullJSON(in.Raw), at,
	}
}

// nullJSON passes raw JSON through untouched (a string keeps every digit of
// big numbers), or null when there is none.
func nullJSON(raw []byte) *string {
	if len(raw) == 0 {
		return nil
	}

	s := string(raw)

	return &s
}
