package main

import (
	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var permissionHeader = []string{"ID", "NAME", "DESCRIPTION"}

func permissionRow(p *keygate.Permission) []string {
	return []string{p.ID, p.Name, dashIfEmpty(p.Description)}
}

var roleHeader = []string{"ID", "NAME", "PERMISSIONS", "DESCRIPTION"}

func roleRow(r *keygate.Role) []string {
	return []string{r.ID, r.Name, joinOrDash(r.Permissions), dashIfEmpty(r.Description)}
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *adminCLI) permissionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "permissions", Aliases: []string{"permission"},
		Short: "Manage permissions (names such as documents.read that keys, consumers and roles hold)"}

	var description string
	create := &cobra.Command{
		Use:   "create NAME [--description TEXT]",
		Short: "Create a permission",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			p, err := c.CreatePermission(cmd.Context(), &keygate.Permission{Name: args[0], Description: description})
			if err != nil {
				return err
			}
			return a.show(cmd, p, permissionHeader, permissionRow(p))
		}),
	}
	create.Flags().StringVar(&description, "description", "", "what the permission allows")

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List permissions",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Permissions(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, permissionHeader, permissionRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get PERMISSION",
		Short: "Show a permission (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			p, err := c.Permission(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, p, permissionHeader, permissionRow(p))
		}),
	}

	var newDescription string
	update := &cobra.Command{
		Use:   "update PERMISSION --description TEXT",
		Short: "Change a permission's description (its name cannot change)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			p, err := c.UpdatePermission(cmd.Context(), args[0], map[string]any{"description": newDescription})
			if err != nil {
				return err
			}
			return a.show(cmd, p, permissionHeader, permissionRow(p))
		}),
	}
	update.Flags().StringVar(&newDescription, "description", "", "what the permission allows")

	del := &cobra.Command{
		Use:   "delete PERMISSION",
		Short: "Delete a permission no role, consumer or key holds",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeletePermission(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "permission", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

func (a *adminCLI) rolesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Aliases: []string{"role"},
		Short: "Manage roles (named sets of permissions that keys and consumers hold)"}

	var description string
	var perms []string
	create := &cobra.Command{
		Use:   "create NAME --permission P [--permission P ...] [--description TEXT]",
		Short: "Create a role",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			r, err := c.CreateRole(cmd.Context(), &keygate.Role{Name: args[0], Description: description, Permissions: nonNil(perms)})
			if err != nil {
				return err
			}
			return a.show(cmd, r, roleHeader, roleRow(r))
		}),
	}
	create.Flags().StringVar(&description, "description", "", "what the role is for")
	create.Flags().StringSliceVar(&perms, "permission", nil, "permission the role grants (repeatable)")

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List roles",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Roles(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, roleHeader, roleRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get ROLE",
		Short: "Show a role (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			r, err := c.Role(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, r, roleHeader, roleRow(r))
		}),
	}

	var newDescription string
	var newPerms []string
	update := &cobra.Command{
		Use:   "update ROLE [--permission P ...] [--description TEXT]",
		Short: "Change a role's permissions (replaced as a whole) or description",
		Long: `Change a role's permissions or description. --permission replaces the
role's permissions as a whole; every key holding the role, itself or through
its consumer, has the new set on its next request, on every node.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			patch := map[string]any{}
			if cmd.Flags().Changed("description") {
				patch["description"] = newDescription
			}
			if cmd.Flags().Changed("permission") {
				patch["permissions"] = nonNil(newPerms)
			}
			r, err := c.UpdateRole(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, r, roleHeader, roleRow(r))
		}),
	}
	update.Flags().StringVar(&newDescription, "description", "", "what the role is for")
	update.Flags().StringSliceVar(&newPerms, "permission", nil, "permission the role grants (repeatable; replaces them all)")

	del := &cobra.Command{
		Use:   "delete ROLE",
		Short: "Delete a role no consumer or key holds",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteRole(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "role", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
