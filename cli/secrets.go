package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/picloud/picloud/api"
)

func secretsCommand() *command {
	return &command{
		Name:    "secrets",
		Args:    "set|ls|rm ...",
		Summary: "manage secrets that functions read with secrets.get",
		Description: `Secrets are values functions read with secrets.get(NAME), such as API keys.
They are encrypted at rest and never shown again once set. A function reads
only the secrets granted to it at deploy ('picloud deploy --secrets NAME,...');
secrets.get of any other name fails. Setting and deleting a secret needs a
token with the secrets (or admin) scope; listing the names needs read.`,
		Example: `picloud secrets set stripe-key < key.txt
picloud deploy pay.lua --secrets stripe-key
picloud secrets ls
picloud secrets rm stripe-key`,
		Subs: []*command{secretsSetCommand(), secretsLsCommand(), secretsRmCommand()},
	}
}

func secretsSetCommand() *command {
	return &command{
		Name:    "secrets set",
		Args:    "NAME [VALUE]",
		Summary: "create or replace a secret",
		Description: `Sets the secret NAME to VALUE, or to what stdin holds when VALUE is left out
(one trailing newline is removed). Prefer stdin: a VALUE on the command
line stays in the shell's history.`,
		Example: "picloud secrets set stripe-key < key.txt\necho -n s3cr3t | picloud secrets set db-password",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "NAME", "[VALUE]")
			if err != nil {
				return err
			}
			var value string
			if len(pos) == 2 {
				value = pos[1]
			} else {
				if isTerminal(a.env.Stdin) {
					fmt.Fprintln(a.env.Stderr, "type the value, then Enter and Ctrl-D:")
				}
				b, err := io.ReadAll(a.env.Stdin)
				if err != nil {
					return fmt.Errorf("read the value from stdin: %w", err)
				}
				value = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			}
			if err := a.client().SetSecret(ctx, pos[0], value); err != nil {
				return fmt.Errorf("set secret %s: %w", pos[0], err)
			}
			fmt.Fprintf(a.env.Stdout, "set secret %s\n", clean(pos[0]))
			return nil
		},
	}
}

func secretsLsCommand() *command {
	return &command{
		Name:        "secrets ls",
		Args:        "[--json]",
		Summary:     "list the secrets' names (never their values)",
		Description: "Lists the names of the secrets and when each was last set.",
		Example:     "picloud secrets ls",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			ss, err := a.client().ListSecrets(ctx)
			if err != nil {
				return fmt.Errorf("list secrets: %w", err)
			}
			if *asJSON {
				return printJSON(a.env.Stdout, api.SecretList{Secrets: nonNil(ss)})
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCREATED\tUPDATED")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", clean(s.Name), ago(s.CreatedAt), ago(s.UpdatedAt))
			}
			return tw.Flush()
		},
	}
}

func secretsRmCommand() *command {
	return &command{
		Name:        "secrets rm",
		Args:        "NAME",
		Summary:     "delete a secret",
		Description: "Deletes the secret NAME; secrets.get(NAME) returns nil from then on.",
		Example:     "picloud secrets rm stripe-key",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			pos, err := a.parse(c, fs, args, "NAME")
			if err != nil {
				return err
			}
			if err := a.client().DeleteSecret(ctx, pos[0]); err != nil {
				return fmt.Errorf("delete secret %s: %w", pos[0], err)
			}
			fmt.Fprintf(a.env.Stdout, "deleted secret %s\n", clean(pos[0]))
			return nil
		},
	}
}
