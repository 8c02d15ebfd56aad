package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestInterpretError_DatabaseOutOfReachIsUnavailable: a refused
// connection and a server shutting down are ErrUnavailable (the API
// answers 503), a failed statement is not.
func TestInterpretError_DatabaseOutOfReachIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, refused := pgx.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if refused == nil {
		t.Fatal("connecting to port 1 succeeded")
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", refused, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"unique violation", &pgconn.PgError{Code: codeUniqueViolation}, false},
		{"no rows", pgx.ErrNoRows, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := interpretError(tc.err, "read something")
			if got := errors.Is(err, ErrUnavailable); got != tc.want {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.want)
			}
		})
	}
}
