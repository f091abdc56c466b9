package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/declarative"
)

// importCommand is `keygate import`: configuration from another gateway.
func (a *adminCLI) importCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import the configuration of another gateway (Kong)"}
	var dryRun bool
	kong := &cobra.Command{
		Use:   "kong FILE [--dry-run]",
		Short: "Import a Kong declarative file (kong.yml): services, routes, consumers, plugins, credentials",
		Long: `Maps Kong's services, routes, upstream targets, consumers, ACL groups and its key-auth,
hmac-auth, acl and rate-limiting plugins onto keygate (docs/declarative.md has the table),
prints a line for every field or plugin it cannot map, the changes, and the credentials,
then applies them. Kong's keys and HMAC secrets are imported as they are (keys stored
hashed) and never printed. Importing the same file again changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			imp, err := declarative.ParseKong(filepath.Base(args[0]), data)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Not mapped or changed (%d):\n", len(imp.Notes))
			for _, n := range imp.Notes {
				fmt.Fprintf(w, "  %s\n", n)
			}
			state, err := declarative.Load(cmd.Context(), c)
			if err != nil {
				return err
			}
			plan, err := declarative.Diff(imp.Doc, state, false)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "Configuration:")
			if err := plan.Print(w); err != nil {
				return err
			}
			if !dryRun && !plan.Empty() {
				if done, err := plan.Apply(cmd.Context(), c); err != nil {
					return fmt.Errorf("applied %d of %d changes, then: %w", done, len(plan.Changes), err)
				}
			}
			fmt.Fprintf(w, "Credentials (%d keys, %d HMAC credentials; secrets not shown):\n", len(imp.Keys), len(imp.HMAC))
			return imp.ImportCredentials(cmd.Context(), c, w, dryRun)
		}),
	}
	kong.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be imported")
	cmd.AddCommand(kong)
	return cmd
}
