package store

import "context"

// CountDeadLetters returns how many dead letters are kept (for the
// picloud_dead_letters gauge, read at scrape time).
func (s *Store) CountDeadLetters(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dead_letters`).Scan(&n); err != nil {
		return 0, interpretError(err, "count dead letters")
	}
	return n, nil
}

// CountPendingJobs returns how many async jobs (deliveries, async calls)
// wait to run: available, scheduled for later or waiting for a retry. The
// job table belongs to River (created by the events service at start).
func (s *Store) CountPendingJobs(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&n)
	if err != nil {
		return 0, interpretError(err, "count pending jobs")
	}
	return n, nil
}
