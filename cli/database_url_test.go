package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/picloud/picloud/store/storetest"
)

// TestDatabaseURL_FromAFile: migrate (and serve, through the same flags)
// reads the database URL from --database-url-file or
// PICLOUD_DATABASE_URL_FILE, so it need not be on the command line, where
// ps shows it to every user.
func TestDatabaseURL_FromAFile(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewEmptyDB(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "database.url")
	if err := os.WriteFile(file, []byte(dbURL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "", "migrate", "--database-url-file", file)
	if r.code != ExitOK || !strings.Contains(r.stdout, "schema migrated from version 0 to") {
		t.Fatalf("migrate --database-url-file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The file's variable, and it wins over DATABASE_URL.
	env := map[string]string{envDatabaseURLFile: file, envDatabaseURL: "postgres://nobody@127.0.0.1:1/none"}
	r = run(t, env, "", "migrate", "--status")
	if r.code != ExitOK || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("PICLOUD_DATABASE_URL_FILE migrate --status: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	empty := filepath.Join(dir, "empty.url")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both flags", []string{"migrate", "--database-url", dbURL, "--database-url-file", file}, "not both"},
		{"empty file", []string{"migrate", "--database-url-file", empty}, "is empty"},
		{"missing file", []string{"migrate", "--database-url-file", filepath.Join(dir, "nope")}, "no such file"},
		{"serve with a missing file", []string{"serve", "--database-url-file", filepath.Join(dir, "nope")}, "no such file"},
	} {
		r := run(t, nil, "", tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want usage error with %q", tc.name, r.code, r.stderr, tc.want)
		}
		if strings.Contains(r.stderr, dbURL) {
			t.Errorf("%s: the error shows the database URL: %q", tc.name, r.stderr)
		}
	}
}
