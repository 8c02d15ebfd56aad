package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/picloud/picloud/functions"
)

// FunctionsChannel is the NOTIFY channel every change to a function is
// announced on (payload: the function's name), in the transaction of the
// change, so listeners hear of it only once it is committed.
const FunctionsChannel = "picloud_functions"

// DefaultMaxAttempts is a function's delivery attempts when deployed
// without --max-attempts.
const DefaultMaxAttempts = 5

// Function is a deployed function and its current version. Values returned
// by FunctionCache are shared: do not modify them.
type Function struct {
	Name    string
	Private bool
	// AllowAsync lets anyone queue asynchronous calls of a public function
	// (X-PiCloud-Async: 1); without it only a token with the invoke scope
	// may.
	AllowAsync     bool
	MaxAttempts    int
	CurrentVersion int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// Current is the current version. ListFunctions leaves its Source
	// empty; GetFunction and the cache fill it.
	Current Version
}

// Spec returns the current version as the supervisor runs it.
func (f *Function) Spec() functions.Spec {
	return functions.Spec{
		Name:    f.Name,
		Version: f.Current.Version,
		Source:  f.Current.Source,
		SHA256:  f.Current.SHA256,
		Limits:  f.Current.Limits,

		AllowNet:    f.Current.AllowNet,
		CORSOrigins: f.Current.Front.CORSOrigins,
		Rate:        f.Current.Front.Rate,
		Env:         f.Current.Front.Env,
	}
}

// Version is one immutable version of a function.
type Version struct {
	Function  string
	Version   int
	Source    string // empty in ListVersions; see GetVersion
	SHA256    string // hex
	Limits    functions.Limits
	CreatedAt time.Time
	CreatedBy string // name of the token that deployed it
	// Secrets are the names the version may read with secrets.get, sorted.
	// Nil with AllSecrets set: a version deployed before per-function
	// grants existed, which may read every secret.
	Secrets    []string
	AllSecrets bool
	// AllowNet are the outbound destinations the version was granted
	// beyond public addresses (deploy --allow-net), as given; nil for none.
	AllowNet []string

	// Front is the version's CORS origins, rate limit and env.
	Front Front
	// Blobs are the buckets besides its own the version may use with the
	// blobs module: "bucket:r" or "bucket:rw", sorted.
	Blobs []string
}

// Grants reports whether the version may read the secret name.
func (v *Version) Grants(name string) bool {
	return v.AllSecrets || slices.Contains(v.Secrets, name)
}

// secretsColumn is what the secrets column stores for v: NULL for a
// version that may read every secret, else the (possibly empty) list.
func secretsColumn(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// scanSecrets fills v's grants from the secrets column.
func (v *Version) scanSecrets(col *[]string) {
	v.AllSecrets = col == nil
	v.Secrets = nil
	if col != nil {
		v.Secrets = *col
		if v.Secrets == nil {
			v.Secrets = []string{}
		}
	}
}

// DeployParams describe a deploy. Validation of the name, the source and
// the limits is the caller's job (the API); the store keeps what it is given.
type DeployParams struct {
	Name      string
	Source    string
	SHA256    string // hex sha256 of Source; computed when empty, checked when set
	CreatedBy string
	// Private functions need a token with the invoke scope. Every deploy
	// sets it to the value given.
	Private bool
	// AllowAsync: see Function.AllowAsync. Every deploy sets it too.
	AllowAsync bool
	// MaxAttempts of event deliveries; 0 means DefaultMaxAttempts on
	// create and "keep the current value" on a new version.
	MaxAttempts int
	// Limits of this version; the zero value means supervisor.DefaultLimits().
	Limits functions.Limits
	// Secrets the version may read with secrets.get (validated and sorted
	// by the caller). Nil grants none; a deploy never grants every secret.
	Secrets []string
	// KeepSecrets gives the new version the current version's grants
	// instead of Secrets: none on create, and none if the current version
	// reads every secret (that is never carried into a new version).
	KeepSecrets bool
	// AllowNet are the version's outbound grants (validated by the
	// caller); nil stores none.
	AllowNet []string
	// CheckSecrets, if set, is called in the deploy's transaction, with
	// the function locked, with the current version (nil on create) and
	// the grants the new version gets; an error aborts the deploy and is
	// returned wrapped.
	CheckSecrets func(cur *Version, grants []string) error

	// Front of this version (validated by the caller).
	Front Front
	// Blobs are the version's bucket grants (NormalizeBlobGrants).
	Blobs []string
	// KeepBlobs gives the new version the current version's bucket grants
	// instead of Blobs.
	KeepBlobs bool
}

type deployMode int

const (
	deployCreate deployMode = iota // the name must be free
	deployUpdate                   // the function must exist
	deployEither                   // create or add a version
)

// CreateFunction creates a function with version 1. ErrConflict if the name
// is taken.
func (s *Store) CreateFunction(ctx context.Context, p DeployParams) (*Function, error) {
	f, _, err := s.deploy(ctx, p, deployCreate)
	return f, err
}

// DeployVersion adds a new immutable version to an existing function and
// makes it current. ErrNotFound if the function does not exist.
func (s *Store) DeployVersion(ctx context.Context, p DeployParams) (*Function, error) {
	f, _, err := s.deploy(ctx, p, deployUpdate)
	return f, err
}

// Deploy creates the function, or adds a new version if it exists; created
// says which happened.
func (s *Store) Deploy(ctx context.Context, p DeployParams) (f *Function, created bool, err error) {
	return s.deploy(ctx, p, deployEither)
}

func (s *Store) deploy(ctx context.Context, p DeployParams, mode deployMode) (*Function, bool, error) {
	sum := sha256.Sum256([]byte(p.Source))
	hexSum := hex.EncodeToString(sum[:])
	if p.SHA256 == "" {
		p.SHA256 = hexSum
	} else if p.SHA256 != hexSum {
		return nil, false, fmt.Errorf("deploy %s: sha256 %s does not match the source: %w", p.Name, p.SHA256, ErrInvalid)
	}
	if p.Limits == (functions.Limits{}) {
		p.Limits = functions.DefaultLimits()
	}
	limits, err := encodeLimits(p.Limits)
	if err != nil {
		return nil, false, err
	}
	front, err := encodeFront(p.Front)
	if err != nil {
		return nil, false, err
	}
	var f *Function
	created := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		version, cur := 1, 0
		if mode != deployUpdate {
			maxAttempts := p.MaxAttempts
			if maxAttempts == 0 {
				maxAttempts = DefaultMaxAttempts
			}
			tag, err := tx.Exec(ctx, `INSERT INTO functions (name, private, max_attempts, current_version, allow_async)
				VALUES ($1, $2, $3, 1, $4) ON CONFLICT (name) DO NOTHING`, p.Name, p.Private, maxAttempts, p.AllowAsync)
			if err != nil {
				return interpretError(err, "insert function")
			}
			created = tag.RowsAffected() == 1
			if !created && mode == deployCreate {
				return fmt.Errorf("function %s: %w", p.Name, ErrConflict)
			}
		}
		if !created {
			// Lock the function so concurrent deploys number their
			// versions one after the other.
			err := tx.QueryRow(ctx, `SELECT current_version FROM functions WHERE name = $1 FOR UPDATE`, p.Name).Scan(&cur)
			if err != nil {
				return interpretError(err, "function "+p.Name)
			}
			if err := tx.QueryRow(ctx, `SELECT max(version) + 1 FROM function_versions WHERE function = $1`, p.Name).Scan(&version); err != nil {
				return interpretError(err, "next version of "+p.Name)
			}
			if _, err := tx.Exec(ctx, `UPDATE functions SET current_version = $2, private = $3,
				max_attempts = CASE WHEN $4 > 0 THEN $4 ELSE max_attempts END, allow_async = $5, updated_at = now()
				WHERE name = $1`, p.Name, version, p.Private, p.MaxAttempts, p.AllowAsync); err != nil {
				return interpretError(err, "update function "+p.Name)
			}
		}
		if err := resolveSecrets(ctx, tx, &p, created, cur); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO function_versions (function, version, source, sha256, limits, created_by, secrets, allow_net,
				front, blobs)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
				$9, $10)`, p.Name, version, []byte(p.Source), p.SHA256, limits, p.CreatedBy,
			secretsColumn(p.Secrets), nonNil(p.AllowNet),
			front, secretsColumn(p.Blobs)); err != nil {
			return interpretError(err, fmt.Sprintf("insert version %d of %s", version, p.Name))
		}
		if err := notifyFunction(ctx, tx, p.Name); err != nil {
			return err
		}
		f, err = getFunction(ctx, tx, p.Name)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("deploy %s: %w", p.Name, err)
	}
	return f, created, nil
}

// resolveSecrets settles the grants of the version being deployed (the
// current version's with KeepSecrets) and runs CheckSecrets, with the
// function locked; cur is the current version number unless created.
func resolveSecrets(ctx context.Context, q querier, p *DeployParams, created bool, cur int) error {
	if !p.KeepSecrets && p.CheckSecrets == nil && !p.KeepBlobs {
		return nil
	}
	var curV *Version
	if !created {
		v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionColumns+` FROM function_versions
			WHERE function = $1 AND version = $2`, p.Name, cur), false)
		if err != nil {
			return interpretError(err, fmt.Sprintf("version %d", cur))
		}
		curV = &v
	}
	if p.KeepSecrets {
		p.Secrets = nil
		if curV != nil && !curV.AllSecrets {
			p.Secrets = slices.Clone(curV.Secrets)
		}
	}
	if p.KeepBlobs {
		p.Blobs = nil
		if curV != nil {
			p.Blobs = slices.Clone(curV.Blobs)
		}
	}
	if p.CheckSecrets != nil {
		return p.CheckSecrets(curV, p.Secrets)
	}
	return nil
}

// nonNil returns s, or an empty slice for nil (a NOT NULL array column).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func notifyFunction(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, FunctionsChannel, name); err != nil {
		return interpretError(err, "notify change of "+name)
	}
	return nil
}

// querier is what pgxpool.Pool, pgx.Conn and pgx.Tx have in common.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

const functionColumns = `f.name, f.private, f.allow_async, f.max_attempts, f.current_version, f.created_at, f.updated_at,
	v.sha256, v.limits, v.created_at, v.created_by, v.secrets, v.allow_net,
	v.front, v.blobs`

func scanFunction(row pgx.Row, withSource bool) (*Function, error) {
	var f Function
	var limits []byte
	var secrets *[]string // NULL: every secret (versions from before grants)
	var front []byte
	dest := []any{&f.Name, &f.Private, &f.AllowAsync, &f.MaxAttempts, &f.CurrentVersion, &f.CreatedAt, &f.UpdatedAt,
		&f.Current.SHA256, &limits, &f.Current.CreatedAt, &f.Current.CreatedBy, &secrets, &f.Current.AllowNet,
		&front, &f.Current.Blobs}
	var src []byte // bytea: the exact bytes deployed
	if withSource {
		dest = append(dest, &src)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	f.Current.Source = string(src)
	f.Current.scanSecrets(secrets)
	if len(f.Current.AllowNet) == 0 {
		f.Current.AllowNet = nil
	}
	fr, err := decodeFront(front)
	if err != nil {
		return nil, err
	}
	f.Current.Front = fr
	l, err := decodeLimits(limits)
	if err != nil {
		return nil, err
	}
	f.Current.Function, f.Current.Version, f.Current.Limits = f.Name, f.CurrentVersion, l
	return &f, nil
}

func getFunction(ctx context.Context, q querier, name string) (*Function, error) {
	row := q.QueryRow(ctx, `SELECT `+functionColumns+`, v.source
		FROM functions f JOIN function_versions v ON v.function = f.name AND v.version = f.current_version
		WHERE f.name = $1`, name)
	f, err := scanFunction(row, true)
	if err != nil {
		return nil, interpretError(err, "function "+name)
	}
	return f, nil
}

// GetFunction returns the function with its current version's source.
// ErrNotFound if it does not exist.
func (s *Store) GetFunction(ctx context.Context, name string) (*Function, error) {
	return getFunction(ctx, s.pool, name)
}

// ListFunctions returns every function by name, with the current version's
// metadata but not its source.
func (s *Store) ListFunctions(ctx context.Context) ([]*Function, error) {
	return s.ListFunctionsPage(ctx, "", 0)
}

// ListFunctionsPage returns up to limit functions (all with limit 0) whose
// names sort after after, in name order: one index range scan per page
// (keyset paging on the primary key), however many functions there are.
func (s *Store) ListFunctionsPage(ctx context.Context, after string, limit int) ([]*Function, error) {
	lim := any(nil)
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+functionColumns+`
		FROM functions f JOIN function_versions v ON v.function = f.name AND v.version = f.current_version
		WHERE f.name > $1 ORDER BY f.name LIMIT $2`, after, lim)
	if err != nil {
		return nil, interpretError(err, "list functions")
	}
	defer rows.Close()
	var out []*Function
	for rows.Next() {
		f, err := scanFunction(rows, false)
		if err != nil {
			return nil, interpretError(err, "scan function")
		}
		out = append(out, f)
	}
	return out, interpretError(rows.Err(), "list functions")
}

// DeleteFunction deletes a function, its versions and its key-value data
// (its invocation records stay until retention prunes them). ErrNotFound if
// it does not exist.
func (s *Store) DeleteFunction(ctx context.Context, name string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM functions WHERE name = $1`, name)
		if err != nil {
			return interpretError(err, "delete function")
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM kv WHERE function = $1`, name); err != nil {
			return interpretError(err, "delete kv data")
		}
		return notifyFunction(ctx, tx, name)
	})
	if err != nil {
		return fmt.Errorf("delete function %s: %w", name, err)
	}
	return nil
}

const versionColumns = `function, version, sha256, limits, created_at, created_by, secrets, allow_net,
	front, blobs`

func scanVersion(row pgx.Row, withSource bool) (Version, error) {
	var v Version
	var limits []byte
	var secrets *[]string // NULL: every secret (versions from before grants)
	var front []byte
	dest := []any{&v.Function, &v.Version, &v.SHA256, &limits, &v.CreatedAt, &v.CreatedBy, &secrets, &v.AllowNet,
		&front, &v.Blobs}
	var src []byte // bytea: the exact bytes deployed
	if withSource {
		dest = append(dest, &src)
	}
	if err := row.Scan(dest...); err != nil {
		return v, err
	}
	v.Source = string(src)
	v.scanSecrets(secrets)
	if len(v.AllowNet) == 0 {
		v.AllowNet = nil
	}
	fr, err := decodeFront(front)
	if err != nil {
		return v, err
	}
	v.Front = fr
	l, err := decodeLimits(limits)
	v.Limits = l
	return v, err
}

// ListVersions returns a function's versions, newest first, without their
// source. ErrNotFound if the function does not exist.
func (s *Store) ListVersions(ctx context.Context, name string) ([]Version, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+versionColumns+` FROM function_versions
		WHERE function = $1 ORDER BY version DESC`, name)
	if err != nil {
		return nil, interpretError(err, "list versions of "+name)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows, false)
		if err != nil {
			return nil, interpretError(err, "scan version")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, interpretError(err, "list versions of "+name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("function %s: %w", name, ErrNotFound)
	}
	return out, nil
}

// GetVersion returns one version with its source. ErrNotFound if the
// function or the version does not exist.
func (s *Store) GetVersion(ctx context.Context, name string, version int) (*Version, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+versionColumns+`, source FROM function_versions
		WHERE function = $1 AND version = $2`, name, version)
	v, err := scanVersion(row, true)
	if err != nil {
		return nil, interpretError(err, fmt.Sprintf("version %d of %s", version, name))
	}
	return &v, nil
}

// Rollback makes an existing version current again (no new version is
// created). version 0 means the newest version older than the current one.
// ErrNotFound if the function or the version does not exist, or if 0 is
// asked and there is no older version.
func (s *Store) Rollback(ctx context.Context, name string, version int) (*Function, error) {
	return s.RollbackChecked(ctx, name, version, nil)
}

// RollbackChecked is Rollback that first calls check (if not nil) with the
// current and the target version (without source), in the transaction
// that holds the function's lock; an error from check aborts the rollback
// and is returned as is (wrapped).
func (s *Store) RollbackChecked(ctx context.Context, name string, version int, check func(cur, target *Version) error) (*Function, error) {
	var f *Function
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var cur int
		if err := tx.QueryRow(ctx, `SELECT current_version FROM functions WHERE name = $1 FOR UPDATE`, name).Scan(&cur); err != nil {
			return interpretError(err, "function "+name)
		}
		var target *int
		if version == 0 {
			if err := tx.QueryRow(ctx, `SELECT max(version) FROM function_versions WHERE function = $1 AND version < $2`,
				name, cur).Scan(&target); err != nil {
				return interpretError(err, "find previous version")
			}
			if target == nil {
				return fmt.Errorf("no version before %d: %w", cur, ErrNotFound)
			}
		} else {
			if err := tx.QueryRow(ctx, `SELECT version FROM function_versions WHERE function = $1 AND version = $2`,
				name, version).Scan(&target); err != nil {
				return interpretError(err, fmt.Sprintf("version %d", version))
			}
		}
		if check != nil {
			if err := checkRollback(ctx, tx, name, cur, *target, check); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE functions SET current_version = $2, updated_at = now() WHERE name = $1`,
			name, *target); err != nil {
			return interpretError(err, "update current version")
		}
		if err := notifyFunction(ctx, tx, name); err != nil {
			return err
		}
		var err error
		f, err = getFunction(ctx, tx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("roll back %s: %w", name, err)
	}
	return f, nil
}

// checkRollback loads versions cur and target of name and calls check.
func checkRollback(ctx context.Context, q querier, name string, cur, target int, check func(cur, target *Version) error) error {
	var vs [2]Version
	for i, n := range []int{cur, target} {
		v, err := scanVersion(q.QueryRow(ctx, `SELECT `+versionColumns+` FROM function_versions
			WHERE function = $1 AND version = $2`, name, n), false)
		if err != nil {
			return interpretError(err, fmt.Sprintf("version %d", n))
		}
		vs[i] = v
	}
	return check(&vs[0], &vs[1])
}
