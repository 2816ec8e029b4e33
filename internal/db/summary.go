package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstanceSummary is one line of the demo's report: an instance's live
// snapshots, its newest completed one and its soonest expiry still to come
// (retention for Serverless, the download link for Flex).
type InstanceSummary struct {
	ProjectID       string
	Name            string
	Family          string
	Live            int
	NewestCompleted *time.Time
	SoonestExpiry   *time.Time
}

// InstanceSummaries reads one summary per instance that has snapshots.
func (d *DB) InstanceSummaries(ctx context.Context) ([]InstanceSummary, error) {
	const query = `SELECT project_id, instance_name, min(family),
    count(*) FILTER (WHERE removed_at IS NULL),
    max(taken_at) FILTER (WHERE removed_at IS NULL AND state = 'completed'),
    min(coalesce(expires_at, download_expires_at))
        FILTER (WHERE removed_at IS NULL AND coalesce(expires_at, download_expires_at) > now())
FROM snapshots
GROUP BY project_id, instance_name
ORDER BY project_id, instance_name`

	rows, err := d.pool.Query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("summarise instances: %w", err)
	}

	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceSummary, error) {
		var s InstanceSummary
		err := r.Scan(&s.ProjectID, &s.Name, &s.Family, &s.Live, &s.NewestCompleted, &s.SoonestExpiry)

		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("summarise instances: %w", err)
	}

	return out, nil
}
