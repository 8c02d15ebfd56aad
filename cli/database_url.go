package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// envDatabaseURLFile names a file holding the database URL.
const envDatabaseURLFile = "PICLOUD_DATABASE_URL_FILE"

// databaseURL is the --database-url and --database-url-file pair of serve
// and migrate. A URL with a password given as a flag is visible to every
// user of the machine in ps (/proc/PID/cmdline); the environment
// (/proc/PID/environ) and a file are readable only by the process's user.
type databaseURL struct {
	url, file string
	ef        *envFlags
}

// defineDatabaseURL adds the two flags to ef.
func defineDatabaseURL(ef *envFlags) *databaseURL {
	d := &databaseURL{ef: ef}
	// Not ef.String: its default would be DATABASE_URL's value, which
	// --help prints.
	ef.fs.StringVar(&d.url, "database-url", "",
		"PostgreSQL `URL` (required, here or in a file). A flag shows in ps to every user of the machine: prefer the variable or --database-url-file (env "+envDatabaseURL+")")
	ef.String(&d.file, "database-url-file", envDatabaseURLFile, "",
		"read the PostgreSQL URL from `FILE` (keep it mode 0600 or 0640)")
	return d
}

// resolve returns the URL after parsing: --database-url on the command
// line, else the file (--database-url-file or PICLOUD_DATABASE_URL_FILE),
// else DATABASE_URL. "" when none is set.
func (d *databaseURL) resolve() (string, error) {
	set := flagsSet(d.ef.fs)
	switch {
	case set["database-url"] && set["database-url-file"]:
		return "", errors.New("give --database-url or --database-url-file, not both")
	case set["database-url"]:
		return d.url, nil
	case d.file == "":
		return d.ef.a.env.Getenv(envDatabaseURL), nil
	}
	b, err := os.ReadFile(d.file)
	if err != nil {
		return "", fmt.Errorf("read the database URL: %w", err)
	}
	u := strings.TrimSpace(string(b))
	switch {
	case u == "":
		return "", fmt.Errorf("the database URL file %s is empty: write the PostgreSQL URL in it", d.file)
	case strings.ContainsAny(u, "\r\n"):
		return "", fmt.Errorf("the database URL file %s holds more than one line: write the PostgreSQL URL alone", d.file)
	}
	return u, nil
}
