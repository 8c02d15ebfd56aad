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
