package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Defaults of the client side of the CLI.
const (
	DefaultURL       = "http://127.0.0.1:8080"
	DefaultDataDir   = "./.picloud"
	PackageDataDir   = "/var/lib/picloud"
	AdminTokenFile   = "admin.token"
	envURL           = "PICLOUD_URL"
	envToken         = "PICLOUD_TOKEN"
	envDataDir       = "PICLOUD_DATA_DIR"
	envDatabaseURL   = "DATABASE_URL"
	envListen        = "PICLOUD_LISTEN"
	envRequireLimits = "PICLOUD_REQUIRE_LIMITS"
)

// client returns a Client for the server in PICLOUD_URL with the token of
// PICLOUD_TOKEN or of the admin token file. It never prints the token.
func (a *app) client() *Client {
	c := &Client{BaseURL: a.env.Getenv(envURL)}
	if c.BaseURL == "" {
		c.BaseURL = DefaultURL
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if t := strings.TrimSpace(a.env.Getenv(envToken)); t != "" {
		c.Token, c.TokenSource = t, envToken
		return c
	}
	dataDir := a.env.Getenv(envDataDir)
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	paths := []string{filepath.Join(dataDir, AdminTokenFile)}
	if pkg := filepath.Join(PackageDataDir, AdminTokenFile); pkg != paths[0] {
		paths = append(paths, pkg)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			c.Token, c.TokenSource = t, p
			return c
		}
	}
	c.TokenHint = paths[0]
	return c
}

// envOr returns the environment variable name, or def when it is unset.
func (a *app) envOr(name, def string) string {
	if v := a.env.Getenv(name); v != "" {
		return v
	}
	return def
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(escapeJSON(b), '\n'))
	return err
}
