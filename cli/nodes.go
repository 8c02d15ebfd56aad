package cli

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/picloud/picloud/api"
)

func nodesCommand() *command {
	return &command{
		Name:    "nodes",
		Args:    "[--json]",
		Summary: "list the nodes of the cluster",
		Description: `Lists the picloud serve processes sharing this database, from the node
registry: their id, advertised address, roles, version, when they started,
how long ago they last sent a heartbeat, their worker processes, calls in
flight and load average. A node silent for longer than its lease is dead:
another node re-queues the jobs it was running and removes it.`,
		Example: "picloud nodes\npicloud nodes --json",
		Run: func(ctx context.Context, a *app, c *command, args []string) error {
			fs := newFlags(c)
			asJSON := fs.Bool("json", false, "print the list as JSON")
			if _, err := a.parse(c, fs, args); err != nil {
				return err
			}
			var l api.NodeList
			if err := a.client().do(ctx, http.MethodGet, "/api/v1/nodes", nil, &l); err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			if *asJSON {
				if l.Nodes == nil {
					l.Nodes = []api.NodeView{}
				}
				return printJSON(a.env.Stdout, l)
			}
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tADDRESS\tROLES\tVERSION\tSTARTED\tHEARTBEAT\tSTATE\tWORKERS\tINFLIGHT\tLOAD")
			for _, n := range l.Nodes {
				state := "alive"
				if !n.Alive {
					state = "dead"
				}
				id := clean(n.ID)
				if n.Self {
					id += "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.2f\n", id, clean(n.Address),
					clean(strings.Join(n.Roles, ",")), clean(n.Version), ago(n.StartedAt), ago(n.HeartbeatAt),
					state, n.Workers, n.InFlight, n.Load)
			}
			return tw.Flush()
		},
	}
}
