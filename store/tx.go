package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Tx is one database transaction of the store. Code outside the store
// cannot run SQL in it: it passes it to the store's *Tx operations (and the
// Queue's), so several typed operations commit or roll back together.
type Tx struct{ tx pgx.Tx }

// InTx runs fn in a transaction, committing when fn returns nil and
// rolling back otherwise.
func (s *EventStore) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(&Tx{tx: tx}) }); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	return nil
}
