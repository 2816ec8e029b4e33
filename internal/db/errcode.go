package db

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// sqlstateQueryCanceled is PostgreSQL's query_canceled, sent both for a
// statement_timeout and for a cancel request.
const sqlstateQueryCanceled = "57014"

// IsStatementTimeout reports whether err says PostgreSQL cancelled a
// statement that ran past statement_timeout (EXPORTER_STATEMENT_TIMEOUT), as
// opposed to one cancelled because the caller gave up.
func IsStatementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}

	return pgErr.Code == sqlstateQueryCanceled && strings.Contains(pgErr.Message, "statement timeout")
}

// sqlstateUniqueViolation is PostgreSQL's unique_violation.
const sqlstateUniqueViolation = "23505"

// isUniqueViolation reports whether err is a duplicate key.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError

	return errors.As(err, &pgErr) && pgErr.Code == sqlstateUniqueViolation
}

// IsUndefinedTable reports whether err says a table or view does not exist:
// the schema was never migrated.
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError

	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
