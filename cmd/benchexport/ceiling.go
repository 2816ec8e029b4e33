package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// The ceiling is the same rows the exporter stored, taken through what any
// loader of them must do at least: COPY into a staging table, then one
// INSERT into a keyed current table and one into a history table, both
// created LIKE the exporter's tables (indexes and checks included). No
// HTTP, no JSON decoding in Go, no per-instance transactions.

const ceilingColumns = `id, project_id, instance_name, family, status, state,
    taken_at, finished_at, expires_at, download_expires_at,
    frequency_type, snapshot_type, storage_size_bytes, mongodb_version, raw`

// ceilingResult is the ceiling's rows and time.
type ceilingResult struct {
	Rows int64
	Wall time.Duration
	CPU  cpuSplit // the benchmark's own and PostgreSQL's
}

// Rate is rows per second.
func (c ceilingResult) Rate() float64 {
	return float64(c.Rows) / c.Wall.Seconds()
}

// measureCeiling copies the stored snapshots out into streams memory
// buffers, then times loading them back in parallel streams.
func measureCeiling(ctx context.Context, s *scratch, streams int) (ceilingResult, error) {
	if err := createCeilingTables(ctx, s.conn); err != nil {
		return ceilingResult{}, err
	}

	bufs, err := exportRows(ctx, s.conn, streams)
	if err != nil {
		return ceilingResult{}, err
	}

	conns, err := openConns(ctx, s.url, streams)
	if err != nil {
		return ceilingResult{}, err
	}

	pg0, self0 := s.serverCPU(), selfCPU()
	start := time.Now()
	rows, err := loadStreams(ctx, conns, bufs)
	wall := time.Since(start)
	closeConns(conns)

	cpu := s.cpuSince(ctx, pg0, selfCPU()-self0)

	return ceilingResult{Rows: rows, Wall: wall, CPU: cpu}, err
}

func createCeilingTables(ctx context.Context, conn *pgx.Conn) error {
	const ddl = `CREATE SCHEMA ceiling;
CREATE TABLE ceiling.snapshots (LIKE atlas_backup.snapshots INCLUDING ALL);
CREATE TABLE ceiling.snapshot_versions (LIKE atlas_backup.snapshot_versions INCLUDING ALL)`

	if _, err := conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create ceiling tables: %w", err)
	}

	return nil
}

// exportRows reads the stored snapshots in COPY text format, one buffer per
// stream, split by instance.
func exportRows(ctx context.Context, conn *pgx.Conn, streams int) ([]*bytes.Buffer, error) {
	bufs := make([]*bytes.Buffer, streams)
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		query := `COPY (SELECT ` + ceilingColumns + ` FROM atlas_backup.snapshots
    WHERE abs(hashtext(project_id || '/' || instance_name)::bigint) % ` + strconv.Itoa(streams) + ` = ` + strconv.Itoa(i) + `
    ORDER BY project_id, instance_name, id) TO STDOUT`

		if _, err := conn.PgConn().CopyTo(ctx, bufs[i], query); err != nil {
			return nil, fmt.Errorf("copy snapshots out: %w", err)
		}
	}

	return bufs, nil
}

func openConns(ctx context.Context, url string, n int) ([]*pgx.Conn, error) {
	conns := make([]*pgx.Conn, 0, n)
	for range n {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			closeConns(conns)

			return nil, fmt.Errorf("connect for the ceiling: %w", err)
		}

		conns = append(conns, c)
	}

	return conns, nil
}

func closeConns(conns []*pgx.Conn) {
	for _, c := range conns {
		_ = c.Close(context.Background())
	}
}

// loadStreams loads each buffer on its own connection, all at once.
func loadStreams(ctx context.Context, conns []*pgx.Conn, bufs []*bytes.Buffer) (int64, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		first error
	)

	for i, c := range conns {
		wg.Go(func() {
			n, err := loadOne(ctx, c, bufs[i])

			mu.Lock()
			defer mu.Unlock()

			total += n
			if err != nil && first == nil {
				first = err
			}
		})
	}
	wg.Wait()

	return total, first
}

// loadOne is one stream: one transaction, COPY, two set-based INSERTs.
func loadOne(ctx context.Context, c *pgx.Conn, buf *bytes.Buffer) (int64, error) {
	const (
		stage = `CREATE TEMP TABLE ceiling_stage (
    id text NOT NULL, project_id text NOT NULL, instance_name text NOT NULL, family text NOT NULL,
    status text, state text, taken_at timestamptz, finished_at timestamptz, expires_at timestamptz,
    download_expires_at timestamptz, frequency_type text, snapshot_type text,
    storage_size_bytes bigint, mongodb_version text, raw jsonb NOT NULL
) ON COMMIT DROP`
		current = `INSERT INTO ceiling.snapshots (` + ceilingColumns + `, first_seen_at, last_seen_at, version)
SELECT ` + ceilingColumns + `, now(), now(), 1 FROM ceiling_stage`
		history = `INSERT INTO ceiling.snapshot_versions (` + ceilingColumns + `, version, valid_from, change)
SELECT ` + ceilingColumns + `, 1, now(), 'created' FROM ceiling_stage`
	)

	tx, err := c.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("ceiling: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()

	if _, err := tx.Exec(ctx, stage); err != nil {
		return 0, fmt.Errorf("ceiling: create stage: %w", err)
	}

	tag, err := c.PgConn().CopyFrom(ctx, bytes.NewReader(buf.Bytes()), "COPY ceiling_stage FROM STDIN")
	if err != nil {
		return 0, fmt.Errorf("ceiling: copy: %w", err)
	}

	for _, q := range []string{current, history} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return 0, fmt.Errorf("ceiling: insert: %w", err)
		}
	}

	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("ceiling: commit: %w", err)
	}

	return tag.RowsAffected(), nil
}
