package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var adminTokenHeader = []string{"ID", "NAME", "ROLE", "SERVICES", "CONSUMERS", "CREATED"}

func adminTokenRow(t *keygate.AdminToken) []string {
	return []string{t.ID, t.Name, t.Role, listOrDash(t.Services), listOrDash(t.Consumers), t.CreatedAt.Format("2006-01-02 15:04:05Z07:00")}
}

func listOrDash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ",")
}

func (a *adminCLI) adminTokensCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "admin-tokens", Short: "Create, list and delete admin API tokens (admin, operator, auditor, verifier)"}

	var req keygate.AdminTokenRequest
	create := &cobra.Command{
		Use:   "create NAME --role admin|operator|auditor|verifier [--services S1,S2] [--consumers C1,C2]",
		Short: "Create an admin API token with a role; the token is shown once",
		Long: `Create an admin API token with a role; the token is shown once.

  admin     everything
  operator  everything but the keyring's changes and the admin tokens
  auditor   every read, the audit trail and the admin tokens included; no change
  verifier  POST /v1/keys/verify only; --services restricts it to those services

--consumers scopes an operator or auditor token to those consumers (for a
portal): it may then call only /v1/consumers/{consumer}/... for them.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			req.Name = args[0]
			t, err := c.CreateAdminToken(cmd.Context(), req)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, t, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Admin token %s (%s) created:\n\n    %s\n\n", t.Name, t.Role, t.Token)
			fmt.Fprintf(out, "Copy it now: only a hash of it is stored, so it will not be shown again.\n\n")
			return a.show(cmd, t, adminTokenHeader, adminTokenRow(&t.AdminToken))
		}),
	}
	create.Flags().StringVar(&req.Role, "role", "", "admin, operator, auditor or verifier (required)")
	create.Flags().StringSliceVar(&req.Services, "services", nil, "verifier only: the services (ids or names) whose keys it may verify")
	create.Flags().StringSliceVar(&req.Consumers, "consumers", nil, "operator or auditor only: the consumers (ids or usernames) it is scoped to")
	_ = create.MarkFlagRequired("role")

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List admin tokens (never the tokens themselves)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.AdminTokens(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, adminTokenHeader, adminTokenRow)
		}),
	}
	pageFlags(list, &page)

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an admin token; it stops working at once (the last admin token stays)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteAdminToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "admin token", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
