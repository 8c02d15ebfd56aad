package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// TokensChannel is the NOTIFY channel a token's creation or revocation is announced on
// (payload: the token id), for caches of tokens.
const TokensChannel = "picloud_tokens"

// Token is an API token. The store never sees the secret, only its sha256.
type Token struct {
	ID         int64
	Name       string
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

const tokenColumns = `id, name, scopes, created_at, last_used_at, revoked_at`

func scanToken(row pgx.Row) (*Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Name, &t.Scopes, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateToken stores a token by the sha256 of its secret. ErrConflict if a
// token that is not revoked has the same name (or the same hash).
func (s *Store) CreateToken(ctx context.Context, name string, scopes []string, secretHash []byte) (*Token, error) {
	if scopes == nil {
		scopes = []string{}
	}
	var t *Token
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `INSERT INTO tokens (name, scopes, secret_sha256)
			VALUES ($1, $2, $3) RETURNING `+tokenColumns, name, scopes, secretHash))
		if err != nil {
			return err
		}
		return notifyToken(ctx, tx, t.ID)
	})
	if err != nil {
		return nil, interpretError(err, "create token "+name)
	}
	return t, nil
}

// notifyToken announces a created or revoked token on TokensChannel, at
// commit: token caches drop what they knew of it and every remembered miss.
func notifyToken(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, TokensChannel, strconv.FormatInt(id, 10)); err != nil {
		return fmt.Errorf("notify token %d: %w", id, err)
	}
	return nil
}

// BootstrapToken creates a token only if no token that is not revoked
// exists, atomically across nodes (the first start's admin token). created
// is false, with a nil token, if there already was one.
func (s *Store) BootstrapToken(ctx context.Context, name string, scopes []string, secretHash []byte) (t *Token, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('picloud_bootstrap_token'))`); err != nil {
			return interpretError(err, "lock tokens")
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE revoked_at IS NULL`).Scan(&n); err != nil {
			return interpretError(err, "count tokens")
		}
		if n > 0 {
			return nil
		}
		if scopes == nil {
			scopes = []string{}
		}
		t, err = scanToken(tx.QueryRow(ctx, `INSERT INTO tokens (name, scopes, secret_sha256)
			VALUES ($1, $2, $3) RETURNING `+tokenColumns, name, scopes, secretHash))
		if err != nil {
			return interpretError(err, "create token "+name)
		}
		if err := notifyToken(ctx, tx, t.ID); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("bootstrap token: %w", err)
	}
	return t, created, nil
}

// TokenByHash returns the token whose secret hashes to secretHash.
// ErrNotFound if there is none or it is revoked. It records the use in
// last_used_at, at most once a minute per token (so a busy token does not
// write on every request).
func (s *Store) TokenByHash(ctx context.Context, secretHash []byte) (*Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `WITH t AS (
			SELECT `+tokenColumns+` FROM tokens WHERE secret_sha256 = $1 AND revoked_at IS NULL
		), touch AS (
			UPDATE tokens SET last_used_at = now()
			 WHERE id = (SELECT id FROM t)
			   AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
		)
		SELECT `+tokenColumns+` FROM t`, secretHash))
	if err != nil {
		return nil, interpretError(err, "token")
	}
	return t, nil
}

// ListTokens returns tokens in creation order; revoked ones only if
// includeRevoked.
func (s *Store) ListTokens(ctx context.Context, includeRevoked bool) ([]*Token, error) {
	return s.ListTokensPage(ctx, includeRevoked, 0, 0)
}

// ListTokensPage is one page of ListTokens in one query: at most limit
// tokens (every one when limit <= 0) with an id above afterID.
func (s *Store) ListTokensPage(ctx context.Context, includeRevoked bool, afterID int64, limit int) ([]*Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE ($1 OR revoked_at IS NULL) AND id > $2 ORDER BY id LIMIT $3`, includeRevoked, afterID, pageLimit(limit))
	if err != nil {
		return nil, interpretError(err, "list tokens")
	}
	defer rows.Close()
	var out []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, interpretError(err, "scan token")
		}
		out = append(out, t)
	}
	return out, interpretError(rows.Err(), "list tokens")
}

// RevokeToken revokes the token named name that is not yet revoked.
// ErrNotFound if there is none. The revocation is announced on
// TokensChannel.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `UPDATE tokens SET revoked_at = now()
			WHERE name = $1 AND revoked_at IS NULL RETURNING id`, name).Scan(&id); err != nil {
			return interpretError(err, "token")
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, TokensChannel, strconv.FormatInt(id, 10)); err != nil {
			return interpretError(err, "notify revocation")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	return nil
}

// CountTokens returns the number of tokens that are not revoked.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE revoked_at IS NULL`).Scan(&n); err != nil {
		return 0, interpretError(err, "count tokens")
	}
	return n, nil
}

// LiveTokenIDs returns those of ids that name tokens that exist and are
// not revoked (what a stream opened with a token re-checks).
func (s *Store) LiveTokenIDs(ctx context.Context, ids []int64) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM tokens WHERE id = ANY($1) AND revoked_at IS NULL`, ids)
	if err != nil {
		return nil, interpretError(err, "check tokens")
	}
	live, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, interpretError(err, "check tokens")
	}
	return live, nil
}
