package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SecretKeySize is the size of the AES-256 key that encrypts secrets.
const SecretKeySize = 32

// LoadOrCreateSecretKey reads the secret key at path (64 hex digits), or
// creates it, mode 0600, with a fresh random key if the file does not exist.
// Every node of a cluster needs the same file.
func LoadOrCreateSecretKey(path string) ([]byte, error) {
	key, err := readSecretKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, SecretKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate secret key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory of secret key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecretKey(path) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create secret key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret key %s: %w", path, err)
	}
	return key, nil
}

func readSecretKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret key: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != SecretKeySize {
		return nil, fmt.Errorf("secret key %s is not %d hex-encoded bytes: %w", path, SecretKeySize, ErrInvalid)
	}
	return key, nil
}

// SecretInfo describes a secret without its value.
type SecretInfo struct {
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (s *Store) aead() (cipher.AEAD, error) {
	if s.secretKey == nil {
		return nil, ErrNoSecretKey
	}
	block, err := aes.NewCipher(s.secretKey)
	if err != nil {
		return nil, fmt.Errorf("secret cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// SetSecret stores value under name, encrypted with AES-256-GCM (the name is
// authenticated with it). created is false if it replaced a value.
func (s *Store) SetSecret(ctx context.Context, name, value string) (created bool, err error) {
	gcm, err := s.aead()
	if err != nil {
		return false, fmt.Errorf("set secret %s: %w", name, err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return false, fmt.Errorf("set secret %s: nonce: %w", name, err)
	}
	ciphertext := gcm.Seal(nil, nonce, []byte(value), []byte(name))
	err = s.pool.QueryRow(ctx, `INSERT INTO secrets (name, nonce, ciphertext) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, updated_at = now()
		RETURNING xmax = 0`, name, nonce, ciphertext).Scan(&created)
	if err != nil {
		return false, interpretError(err, "set secret "+name)
	}
	return created, nil
}

// GetSecret returns the decrypted value of a secret. ErrNotFound if there is
// none.
func (s *Store) GetSecret(ctx context.Context, name string) (string, error) {
	gcm, err := s.aead()
	if err != nil {
		return "", fmt.Errorf("get secret %s: %w", name, err)
	}
	var nonce, ciphertext []byte
	if err := s.pool.QueryRow(ctx, `SELECT nonce, ciphertext FROM secrets WHERE name = $1`, name).
		Scan(&nonce, &ciphertext); err != nil {
		return "", interpretError(err, "secret "+name)
	}
	return openSecret(gcm, name, nonce, ciphertext)
}

// openSecret decrypts a stored secret.
func openSecret(gcm cipher.AEAD, name string, nonce, ciphertext []byte) (string, error) {
	if len(nonce) != gcm.NonceSize() {
		return "", fmt.Errorf("secret %s: stored nonce has %d bytes", name, len(nonce))
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, []byte(name))
	if err != nil {
		return "", fmt.Errorf("decrypt secret %s (is secret.key the one it was written with?): %w", name, err)
	}
	return string(plain), nil
}

// ListSecrets returns every secret's name and times, by name; never values.
func (s *Store) ListSecrets(ctx context.Context) ([]SecretInfo, error) {
	return s.ListSecretsPage(ctx, "", 0)
}

// ListSecretsPage is one page of ListSecrets in one query: at most limit
// secrets (every one when limit <= 0) named after after.
func (s *Store) ListSecretsPage(ctx context.Context, after string, limit int) ([]SecretInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, created_at, updated_at FROM secrets
		WHERE name > $1 ORDER BY name LIMIT $2`, after, pageLimit(limit))
	if err != nil {
		return nil, interpretError(err, "list secrets")
	}
	defer rows.Close()
	var out []SecretInfo
	for rows.Next() {
		var si SecretInfo
		if err := rows.Scan(&si.Name, &si.CreatedAt, &si.UpdatedAt); err != nil {
			return nil, interpretError(err, "scan secret")
		}
		out = append(out, si)
	}
	return out, interpretError(rows.Err(), "list secrets")
}

// DeleteSecret deletes a secret. ErrNotFound if there is none.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE name = $1`, name)
	if err != nil {
		return interpretError(err, "delete secret "+name)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete secret %s: %w", name, ErrNotFound)
	}
	return nil
}

// AppSecret returns the server's own secret name, creating it with gen the
// first time. Every node gets the same value, whichever created it.
func (s *Store) AppSecret(ctx context.Context, name string, gen func() []byte) ([]byte, error) {
	for range 3 {
		var v []byte
		err := s.pool.QueryRow(ctx, `SELECT value FROM app_secrets WHERE name = $1`, name).Scan(&v)
		if err == nil {
			return v, nil
		}
		if err = interpretError(err, "app secret "+name); !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		// Insert ours; if another node won, the next round reads theirs.
		if _, err := s.pool.Exec(ctx, `INSERT INTO app_secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING`, name, gen()); err != nil {
			return nil, interpretError(err, "create app secret "+name)
		}
	}
	return nil, fmt.Errorf("app secret %s: still missing after creating it", name)
}
