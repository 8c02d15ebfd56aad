package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServe_SecretsOfVersionsFromBeforeGrants shows the upgrade path of
// schema 012: a version stored before grants (secrets NULL) reads every
// secret; a deploy token can neither turn that into grants of its choice
// nor roll back to it, but may move away from it.
func TestServe_SecretsOfVersionsFromBeforeGrants(t *testing.T) {
	hh := need(t)
	const fn = "legacy-reader"
	src := `function handle(req) return secrets.get(req.body) or "nil" end`
	for _, s := range []string{"LEGACY_A", "LEGACY_B"} {
		if r := hh.do(t, req{Method: "PUT", Path: "/api/v1/secrets/" + s, Token: hh.admin, Body: map[string]any{"value": strings.ToLower(s)}}); r.Status/100 != 2 {
			t.Fatalf("set %s: %d %s", s, r.Status, r.Body)
		}
	}
	hh.deploy(t, map[string]any{"name": fn, "source": src})
	// Make version 1 what a version deployed before migration 012 is.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, hh.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			`ALTER TABLE function_versions DISABLE TRIGGER function_versions_immutable`,
			`UPDATE function_versions SET secrets = NULL WHERE function = '` + fn + `'`,
			`ALTER TABLE function_versions ENABLE TRIGGER function_versions_immutable`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) (int, string) {
		r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions/" + fn + "/invoke", Token: hh.admin, Body: name})
		return r.Status, string(r.Body)
	}
	// Restart the pool on the new row: a rollback to the same version.
	if r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions/" + fn + "/rollback", Token: hh.admin, Body: map[string]any{"version": 1}}); r.Status != 200 {
		t.Fatalf("rollback: %d %s", r.Status, r.Body)
	}
	if st, body := read("LEGACY_B"); st != 200 || body != "legacy_b" {
		t.Fatalf("a version from before grants reads every secret: %d %s", st, body)
	}

	ci := hh.token(t, "legacy-ci", "deploy")
	put := func(body map[string]any) response {
		body["source"] = src
		return hh.do(t, req{Method: "PUT", Path: "/api/v1/functions/" + fn, Token: ci, Body: body})
	}
	if r := put(map[string]any{"secrets": []string{"LEGACY_A"}}); r.Status != 403 || !strings.Contains(string(r.Body), "secrets scope") {
		t.Fatalf("deploy token naming a secret over an all-secrets version: %d %s", r.Status, r.Body)
	}
	r := put(map[string]any{})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"secrets":[]`) {
		t.Fatalf("deploy token redeploying: %d %s (want a version with no grants)", r.Status, r.Body)
	}
	if st, body := read("LEGACY_A"); st != 500 || !strings.Contains(body, `not granted to function `+fn) {
		t.Fatalf("the new version inherited the blanket access: %d %s", st, body)
	}
	if r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions/" + fn + "/rollback", Token: ci}); r.Status != 403 {
		t.Fatalf("deploy token rolling back to every secret: %d %s", r.Status, r.Body)
	}
	if r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions/" + fn + "/rollback", Token: hh.admin}); r.Status != 200 ||
		!strings.Contains(string(r.Body), `"all_secrets":true`) {
		t.Fatalf("admin rolling back: %d %s", r.Status, r.Body)
	}
	if st, body := read("LEGACY_A"); st != 200 || body != "legacy_a" {
		t.Fatalf("rollback to a version from before grants: %d %s", st, body)
	}
	// Away from every secret is a narrowing: the deploy token may.
	if r := hh.do(t, req{Method: "POST", Path: "/api/v1/functions/" + fn + "/rollback", Token: ci, Body: map[string]any{"version": 2}}); r.Status != 200 {
		t.Fatalf("deploy token rolling back from every secret: %d %s", r.Status, r.Body)
	}
}
