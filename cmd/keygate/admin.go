package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

const defaultAdminURL = "http://127.0.0.1:8001"

// adminCLI holds the flags every admin command shares.
type adminCLI struct {
	url, token string
	json       bool
	reason     string
}

// adminCommands returns the commands that work over the admin API.
func adminCommands() []*cobra.Command {
	a := &adminCLI{}
	cmds := []*cobra.Command{a.servicesCommand(), a.targetsCommand(), a.routesCommand(), a.consumersCommand(), a.keysCommand(), a.hmacCommand(), a.oauthClientsCommand(), a.payloadCommand(), a.adminTokensCommand(), a.keyringCommand(), a.nodesCommand(), a.webhooksCommand(), a.accessCommand(), a.accessRulesCommand(), a.auditCommand(), a.plansCommand(), a.permissionsCommand(), a.rolesCommand(), a.usageCommand(), a.applyCommand(), a.exportCommand(), a.importCommand()}
	cmds = append(cmds, a.analyticsCommand())
	for _, c := range cmds {
		f := c.PersistentFlags()
		f.StringVar(&a.url, "admin-url", "", "admin API URL (env KEYGATE_ADMIN_URL, default "+defaultAdminURL+")")
		// No default shown from the environment: help output must not print the token.
		f.StringVar(&a.token, "admin-token", "", "admin token (env KEYGATE_ADMIN_TOKEN, which keeps it out of the process list)")
		f.BoolVar(&a.json, "json", false, "print the API's JSON instead of a table")
		f.StringVar(&a.reason, "reason", "", "why: recorded in the audit trail with the changes the command makes")
	}
	return cmds
}

func (a *adminCLI) client() (*client.Client, error) {
	url := cmp.Or(a.url, os.Getenv("KEYGATE_ADMIN_URL"), defaultAdminURL)
	token := cmp.Or(a.token, os.Getenv("KEYGATE_ADMIN_TOKEN"))
	if token == "" {
		return nil, errors.New("no admin token: set KEYGATE_ADMIN_TOKEN or use --admin-token")
	}
	c := client.New(url, token)
	c.Reason = a.reason
	return c, nil
}

// run adapts an admin command to cobra: it makes the client and prints the
// command's error in one format.
func (a *adminCLI) run(fn func(cmd *cobra.Command, c *client.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.client()
		if err == nil {
			err = fn(cmd, c, args)
		}
		if err == nil || errors.Is(err, errReported) {
			return err
		}
		printAdminError(cmd.ErrOrStderr(), err)
		return errReported
	}
}

func printAdminError(w io.Writer, err error) {
	e, ok := errors.AsType[*client.Error](err)
	switch {
	case !ok:
		fmt.Fprintf(w, "error: %v\n", err)
	case e.Code == "":
		fmt.Fprintf(w, "error: %s (HTTP %d, request id %s)\n", e.Message, e.Status, cmp.Or(e.RequestID, "none"))
	default:
		fmt.Fprintf(w, "error: %s (%s, request id %s)\n", e.Message, e.Code, e.RequestID)
	}
}

// show prints v as JSON with --json, else as a table of rows.
func (a *adminCLI) show(cmd *cobra.Command, v any, header []string, rows ...[]string) error {
	out := cmd.OutOrStdout()
	if a.json {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// showList prints one page; in a table, a hint for the next page goes to
// stderr so that stdout stays a clean table.
func showList[T any](a *adminCLI, cmd *cobra.Command, items []T, next string, header []string, row func(T) []string) error {
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = row(it)
	}
	if items == nil {
		items = []T{}
	}
	v := struct {
		Data   []T    `json:"data"`
		Offset string `json:"offset,omitempty"`
	}{items, next}
	if err := a.show(cmd, v, header, rows...); err != nil {
		return err
	}
	if next != "" && !a.json {
		fmt.Fprintf(cmd.ErrOrStderr(), "more: run again with --offset %s\n", next)
	}
	return nil
}

// pageFlags adds Kong's paging flags to a list command.
func pageFlags(cmd *cobra.Command, p *keygate.Page) {
	cmd.Flags().IntVar(&p.Limit, "size", keygate.DefaultPageSize, "page size (1-1000)")
	cmd.Flags().StringVar(&p.After, "offset", "", "cursor of the page to show, from a previous list")
}

// patchFrom turns the flags set on the command line into a PATCH body, so
// that an update changes only what was asked for. fields maps flag names to
// JSON field names.
func patchFrom(fs *pflag.FlagSet, fields map[string]string) map[string]any {
	patch := map[string]any{}
	fs.Visit(func(f *pflag.Flag) {
		field, ok := fields[f.Name]
		if !ok {
			return
		}
		switch f.Value.Type() {
		case "bool":
			patch[field] = f.Value.String() == "true"
		case "int":
			patch[field], _ = fs.GetInt(f.Name)
		case "stringSlice":
			v, _ := fs.GetStringSlice(f.Name)
			patch[field] = nonNil(v)
		case "stringArray": // like stringSlice, but commas are not separators
			v, _ := fs.GetStringArray(f.Name)
			patch[field] = nonNil(v)
		default:
			patch[field] = f.Value.String()
		}
	})
	return patch
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// refOf is a reference to an entity given on the command line by id or name.
func refOf(s string) keygate.Ref {
	if keygate.LooksLikeID(s) {
		return keygate.Ref{ID: s}
	}
	return keygate.Ref{Name: s}
}

func joinOrDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// deleted reports a deletion; with --json there is nothing to print.
func (a *adminCLI) deleted(cmd *cobra.Command, kind, ref string) {
	if !a.json {
		fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %s.\n", kind, ref)
	}
}
