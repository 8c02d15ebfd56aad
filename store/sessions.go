package store

import (
	"context"
	"time"
)

// Session is a dashboard session: signed in with a token, acting with its
// scopes. The store never sees the session id, only its sha256.
type Session struct {
	TokenID   int64
	TokenName string
	Scopes    []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateSession opens a session for the live token whose secret hashes to
// tokenHash, stored by the sha256 of the session id, until expiresAt; it
// also deletes expired sessions. ErrNotFound if the token is unknown or
// revoked.
func (s *Store) CreateSession(ctx context.Context, tokenHash, sessionHash []byte, expiresAt time.Time) (*Session, error) {
	var ss Session
	err := s.pool.QueryRow(ctx, `WITH t AS (
			SELECT id, name, scopes FROM tokens WHERE secret_sha256 = $1 AND revoked_at IS NULL
		), gc AS (
			DELETE FROM ui_sessions WHERE expires_at < now()
		), ins AS (
			INSERT INTO ui_sessions (id_sha256, token_id, expires_at)
			SELECT $2, id, $3 FROM t RETURNING created_at, expires_at
		)
		SELECT t.id, t.name, t.scopes, ins.created_at, ins.expires_at FROM t, ins`,
		tokenHash, sessionHash, expiresAt).Scan(&ss.TokenID, &ss.TokenName, &ss.Scopes, &ss.CreatedAt, &ss.ExpiresAt)
	if err != nil {
		return nil, interpretError(err, "create session")
	}
	return &ss, nil
}

// SessionByHash returns the live session whose id hashes to sessionHash:
// not expired, its token not revoked. ErrNotFound otherwise.
func (s *Store) SessionByHash(ctx context.Context, sessionHash []byte) (*Session, error) {
	var ss Session
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.name, t.scopes, s.created_at, s.expires_at
		FROM ui_sessions s JOIN tokens t ON t.id = s.token_id
		WHERE s.id_sha256 = $1 AND s.expires_at > now() AND t.revoked_at IS NULL`,
		sessionHash).Scan(&ss.TokenID, &ss.TokenName, &ss.Scopes, &ss.CreatedAt, &ss.ExpiresAt)
	if err != nil {
		return nil, interpretError(err, "session")
	}
	return &ss, nil
}

// DeleteSession ends the session whose id hashes to sessionHash (sign-out);
// deleting an unknown session is not an error.
func (s *Store) DeleteSession(ctx context.Context, sessionHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ui_sessions WHERE id_sha256 = $1`, sessionHash); err != nil {
		return interpretError(err, "delete session")
	}
	return nil
}
