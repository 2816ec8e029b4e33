package db

import "github.com/jackc/pgx/v5/pgxpool"

// Pool exposes the pool to the package's external tests, for assertions in
// plain SQL.
func (d *DB) Pool() *pgxpool.Pool {
	return d.pool
}
