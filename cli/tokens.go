package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/picloud/picloud/api"
)

func tokenCommand() *command {
	return &command{
		Name:    "token",
		Args:    "create|ls|revoke ...",
		Summary: "manage API tokens",
		Description: `API tokens let scripts, CI and other people use PiCloud. Each token has
scopes: admin (everything), deploy (functions), invoke (call private
functions), read (every listing), publish (events), secrets (set and delete
secrets, grant a function secrets it does not hold yet). A deploy token
cannot change secrets nor grant new ones. Only the sha256 of a token is
stored: its secret is shown once, when it is created.`,
		Example: `picloud token create ci --scope deploy,read
picloud token create vault --scope secrets
picloud token ls
picloud token revoke ci`,
		Subs: []*command{tokenCreateCommand(), tokenLsCommand(), tokenRevokeCommand()},
	}
}

func tokenCreateCommand() *command {
	return &command{
		Name:    "token create",
		Args:    "NAME --scope SCOPE[,SCOPE...] [--json]",
		Summary: "create a token and print its secret once",
		Description: `Creates the token NAME with the given scopes (` + strings.Join(api.AllScopes, ", ") + `)
and prints its secret on stdout, alone on a line, so it can be piped or
captured. The secret is not stored and will not be shown again.`,
		Example: `picloud token create ci --scope deploy,read
PICLOUD_TOKEN=$(picloud token create caller --scope invoke) ...`,
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			var scopes []string
			fs.Var(listValue{&scopes}, "scope", "`SCOPES`, comma-separated or repeated: "+strings.Join(api.AllScopes, ", "))
			asJSON := fs.Bool("json", false, "print the token with its secret as JSON")
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			var list []string
			for _, s := range scopes {
				for p := range strings.SplitSeq(s, ",") {
					if p = strings.TrimSpace(p); p == "" {
						continue
					}
					if !slices.Contains(api.AllScopes, p) {
						return usagef(c, "unknown scope %q: use %s", p, strings.Join(api.AllScopes, ", "))
					}
					if !slices.Contains(list, p) {
						list = append(list, p)
					}
				}
			}
			if len(list) == 0 {
				return usagef(c, "missing --scope: give one or more of %s", strings.Join(api.AllScopes, ", "))
			}
			t, err := a.client().CreateToken(ctx, api.TokenRequest{Name: pos[0], Scopes: list})
			if err != nil {
				return fmt.Errorf("create token %s: %w", pos[0], err)
			}
			if *asJSON {
				if err := printJSON(a.env.Stdout, t); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(a.env.Stdout, t.Secret)
			}
			fmt.Fprintf(a.env.Stderr, "created token %s with scopes %s\nSave the secret now: it will not be shown again.\n",
				clean(t.Name), clean(strings.Join(t.Scopes, ",")))
			return nil
		},
	}
}

func tokenLsCommand() *command {
	return &command{
		Name:        "token ls",
		Args:        "[--json]",
		Summary:     "list the tokens (never their secrets)",
		Description: "Lists the tokens that are not revoked, with their scopes and when they were last used.",
		Example:     "picloud token ls",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			ts, err := a.client().ListTokens(ctx)
			if err != nil {
				return fmt.Errorf("list tokens: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.TokenList{Tokens: nonNil(ts)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tLAST USED")
			for _, t := range ts {
				last := "never"
				if t.LastUsedAt != nil {
					last = ago(*t.LastUsedAt)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(t.Name), clean(strings.Join(t.Scopes, ",")), ago(t.CreatedAt), last)
			}
			return tw.Flush()
		},
	}
}

func tokenRevokeCommand() *command {
	return &command{
		Name:        "token revoke",
		Args:        "NAME",
		Summary:     "revoke a token",
		Description: "Revokes the token NAME: the server refuses it from then on.",
		Example:     "picloud token revoke ci",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			if err := a.client().RevokeToken(ctx, pos[0]); err != nil {
				return fmt.Errorf("revoke token %s: %w", pos[0], err)
			}
			fmt.Fprintf(a.env.Stdout, "revoked token %s\n", clean(pos[0]))
			return nil
		},
	}
}
