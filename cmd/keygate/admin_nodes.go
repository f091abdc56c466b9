package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/client"
)

func (a *adminCLI) nodesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Show the running keygate nodes"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the nodes seen within the last hour, with when each was last seen", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			nodes, err := c.Nodes(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, len(nodes))
			for i, n := range nodes {
				rows[i] = []string{n.ID, strings.Join(n.Roles, ","), n.Version, n.ProxyURL, n.AdminURL,
					n.StartedAt.Format(time.RFC3339), time.Since(n.SeenAt).Round(time.Second).String() + " ago"}
			}
			return a.show(cmd, nodes, []string{"ID", "ROLES", "VERSION", "PROXY", "ADMIN", "STARTED", "SEEN"}, rows...)
		}),
	})
	return cmd
}
