package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var keyHeader = []string{"ID", "CONSUMER", "NAME", "START", "STATUS", "EXPIRES", "PLAN"}

func keyRow(k *keygate.APIKey) []string {
	return []string{k.ID, k.Consumer.String(), cmp.Or(k.Name, "-"), k.Start + "…", string(k.Status), timeOrDash(k.ExpiresAt), planCell(k.Plan)}
}

func (a *adminCLI) keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Aliases: []string{"key"}, Short: "Issue, inspect, revoke and verify API keys"}
	cmd.AddCommand(a.keysCreateCommand(), a.keysListCommand(), a.keysVerifyCommand())

	get := &cobra.Command{
		Use:   "get KEY-ID",
		Short: "Show a key (never the key itself)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			k, err := c.Key(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, k, keyHeader, keyRow(k))
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke KEY-ID",
		Short: "Revoke a key at once, everywhere; its record stays for audit",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			k, err := c.RevokeKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, k, keyHeader, keyRow(k))
		}),
	}
	del := &cobra.Command{
		Use:   "delete KEY-ID",
		Short: "Delete a key and its record",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "key", args[0])
			return nil
		}),
	}
	var grace time.Duration
	rotate := &cobra.Command{
		Use:   "rotate KEY-ID [--grace-period 24h]",
		Short: "Issue a key's successor (shown once); the old key works until the grace period ends",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			var secs *int
			if cmd.Flags().Changed("grace-period") {
				n := int(grace.Round(time.Second) / time.Second)
				secs = &n
			}
			rot, err := c.RotateKey(cmd.Context(), args[0], secs)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, rot, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "New API key (replaces %s):\n\n    %s\n\n", args[0], rot.Key.Key)
			fmt.Fprintf(out, "Copy it now: it will not be shown again. The old key works until %s.\n\n", timeOrDash(rot.Previous.ExpiresAt))
			return a.show(cmd, rot, keyHeader, keyRow(&rot.Key.APIKey), keyRow(&rot.Previous))
		}),
	}
	rotate.Flags().DurationVar(&grace, "grace-period", 24*time.Hour, "how long the old key keeps working (at most 720h)")
	cmd.AddCommand(get, a.keysUpdateCommand(), revoke, rotate, del)
	return cmd
}

func (a *adminCLI) keysUpdateCommand() *cobra.Command {
	var plan, meta string
	var credits int64
	var fields map[string]string
	cmd := &cobra.Command{
		Use:   "update KEY-ID [--name NAME] [--tag TAG ...] [--plan PLAN] [--enabled=false] [--meta JSON] [--credits N]",
		Short: "Change a key's name, tags, usage plan, enabled, meta or credits",
		Long: `Change the given fields of a key: its name, its tags (--tag replaces them
all; --tag "" removes them) and its usage plan (--plan "" removes the key's
own plan, so that its consumer's applies). --enabled=false disables the key
(DISABLED, reversibly; --enabled=true restores it), --meta sets its meta (a
JSON object; "null" removes it), --credits sets its remaining credits (-1:
none, unlimited). A key's restrictions and lifetime cannot be changed:
rotate it for a key with others.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			patch := patchFrom(cmd.Flags(), fields)
			if cmd.Flags().Changed("plan") {
				patch["plan"] = planFlagPatch(plan)
			}
			if cmd.Flags().Changed("meta") {
				patch["meta"] = json.RawMessage(meta)
				if !json.Valid([]byte(meta)) {
					return fmt.Errorf("--meta: not valid JSON")
				}
			}
			if cmd.Flags().Changed("credits") {
				patch["credits"] = map[string]any{"remaining": credits}
				if credits < 0 {
					patch["credits"] = nil
				}
			}
			if len(patch) == 0 {
				return fmt.Errorf("nothing to change: give --name, --tag, --plan, --permission, --role, --enabled, --meta or --credits")
			}
			k, err := c.UpdateKey(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, k, keyHeader, keyRow(k))
		}),
	}
	f := cmd.Flags()
	f.String("name", "", `name of the key; "" removes it`)
	f.StringSlice("tag", nil, "tag (repeatable); replaces the key's tags")
	f.StringSlice("permission", nil, "permission (repeatable); replaces the key's own permissions")
	f.StringSlice("role", nil, "role (repeatable); replaces the key's own roles")
	f.Bool("enabled", true, "false disables the key (reversibly), true enables it")
	f.StringVar(&meta, "meta", "", `meta: a JSON object; "null" removes it`)
	f.Int64Var(&credits, "credits", 0, "remaining credits; -1: none (unlimited)")
	fields = map[string]string{"name": "name", "tag": "tags", "enabled": "enabled", "permission": "permissions", "role": "roles"}
	planFlag(f, &plan, `usage plan (id or name) for this key, instead of its consumer's; "" removes it`)
	return cmd
}

func (a *adminCLI) keysCreateCommand() *cobra.Command {
	var (
		req           keygate.KeyRequest
		expiry        expiryFlags
		plan          string
		imp, keyStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create CONSUMER [--import --key-stdin] [flags]",
		Short: "Issue an API key to a consumer (shown once), or import an existing one",
		Long: `Issue an API key to a consumer; the key is shown once.

With --import --key-stdin, store an existing key instead (one of Kong's, read
from standard input, never from the command line, where ps and shell
histories would keep it): it keeps working as it is, is marked imported, and
is never shown again. Rotate imported keys to keygate keys when their holders
can ("keys list --imported" lists them).`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if imp != keyStdin {
				return fmt.Errorf("--import and --key-stdin: give both, to import the key read from standard input")
			}
			var err error
			if req.TTL, req.ExpiresAt, err = expiry.values(cmd); err != nil {
				return err
			}
			req.Plan = planFlagRef(plan)
			if imp {
				return a.importKey(cmd, c, args[0], req)
			}
			k, err := c.CreateKey(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, k, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "API key for consumer %s:\n\n    %s\n\n", args[0], k.Key)
			fmt.Fprintf(out, "Copy it now: it is stored only as a hash and will not be shown again.\n\n")
			return a.show(cmd, k, keyHeader, keyRow(&k.APIKey))
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "name of the key, to tell a consumer's keys apart")
	expiry.add(cmd)
	f.StringSliceVar(&req.AllowedServices, "service", nil, "service (id or name) the key is limited to (repeatable)")
	f.StringSliceVar(&req.AllowedRoutes, "route", nil, "route (id or name) the key is limited to (repeatable)")
	f.StringSliceVar(&req.AllowedCIDRs, "cidr", nil, "network (CIDR or address) the key may be used from (repeatable)")
	f.StringSliceVar(&req.Tags, "tag", nil, "tag (repeatable)")
	f.StringSliceVar(&req.Permissions, "permission", nil, "permission the key holds, besides its consumer's (repeatable)")
	f.StringSliceVar(&req.Roles, "role", nil, "role the key holds, besides its consumer's (repeatable)")
	planFlag(f, &plan, "usage plan (id or name) for this key, instead of its consumer's")
	f.BoolVar(&imp, "import", false, "import an existing key (e.g. from Kong) instead of issuing one; needs --key-stdin")
	f.BoolVar(&keyStdin, "key-stdin", false, "read the key to import from standard input")
	return cmd
}

// importKey imports the key on standard input for consumer.
func (a *adminCLI) importKey(cmd *cobra.Command, c *client.Client, consumer string, req keygate.KeyRequest) error {
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("--key-stdin: no key on standard input")
	}
	key := strings.TrimRight(line, "\r\n")
	k, err := c.ImportKey(cmd.Context(), consumer, keygate.KeyImport{KeyRequest: req, Key: key})
	if err != nil {
		return err
	}
	if a.json {
		return a.show(cmd, k, nil)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Imported a key for consumer %s: it keeps working as it is, stored only as a hash.\n\n", consumer)
	return a.show(cmd, k, keyHeader, keyRow(k))
}

// expiryFlags are a create command's --ttl and --expires-at.
type expiryFlags struct {
	ttl       time.Duration
	expiresAt string
}

func (e *expiryFlags) add(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&e.ttl, "ttl", 0, "lifetime, such as 720h (whole seconds)")
	cmd.Flags().StringVar(&e.expiresAt, "expires-at", "", "expiry as an RFC 3339 time (instead of --ttl)")
}

// values returns the request's TTL and ExpiresAt; nil for a flag not
// given. The server checks the rest (both given, in the past, too far).
func (e *expiryFlags) values(cmd *cobra.Command) (ttl *int, expiresAt *time.Time, err error) {
	if cmd.Flags().Changed("ttl") {
		secs := int(e.ttl.Round(time.Second) / time.Second)
		ttl = &secs
	}
	if e.expiresAt != "" {
		t, err := time.Parse(time.RFC3339, e.expiresAt)
		if err != nil {
			return nil, nil, fmt.Errorf("--expires-at: must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
		}
		expiresAt = &t
	}
	return ttl, expiresAt, nil
}

func (a *adminCLI) keysListCommand() *cobra.Command {
	var (
		page     keygate.Page
		consumer string
		imported bool
	)
	cmd := &cobra.Command{
		Use:   "list [--consumer CONSUMER] [--imported]",
		Short: "List keys, all or those of one consumer",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			f := keygate.KeyFilter{ConsumerID: consumer}
			if cmd.Flags().Changed("imported") {
				f.Imported = &imported
			}
			items, next, err := c.ListKeys(cmd.Context(), f, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, keyHeader, keyRow)
		}),
	}
	pageFlags(cmd, &page)
	cmd.Flags().StringVar(&consumer, "consumer", "", "only the keys of this consumer (id or username)")
	cmd.Flags().BoolVar(&imported, "imported", false, "only the imported keys (e.g. from Kong), to rotate to keygate keys; --imported=false: only the others")
	return cmd
}

func (a *adminCLI) keysVerifyCommand() *cobra.Command {
	var req keygate.VerifyRequest
	cmd := &cobra.Command{
		Use:   "verify KEY|- [--service S] [--route R] [--ip IP]",
		Short: "Check a key as the gateway would; exit status 1 when it is not valid",
		Long: `Check a key as the gateway would and show the outcome. The exit status is 0
only for a valid key, so scripts can test it. Give "-" to read the key from
standard input, which keeps it out of the shell history and the process list.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			req.Key = args[0]
			if req.Key == "-" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("reading the key from standard input: %w", err)
				}
				req.Key = strings.TrimSpace(line)
			}
			res, err := c.VerifyKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			if err := a.showVerify(cmd, res); err != nil {
				return err
			}
			if !res.Valid {
				return errReported
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.Service, "service", "", "service (id or name) the key would be used for")
	f.StringVar(&req.Route, "route", "", "route (id or name) the key would be used for")
	f.StringVar(&req.IP, "ip", "", "client address the key would be used from")
	return cmd
}

func (a *adminCLI) showVerify(cmd *cobra.Command, res *keygate.VerifyResponse) error {
	if a.json {
		return a.show(cmd, res, nil)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "valid:\t%t\ncode:\t%s\n", res.Valid, res.Code)
	if res.KeyID != "" {
		fmt.Fprintf(tw, "key id:\t%s\nstatus:\t%s\nexpires:\t%s\n", res.KeyID, res.Status, timeOrDash(res.ExpiresAt))
	}
	if co := res.Consumer; co != nil {
		fmt.Fprintf(tw, "consumer:\t%s\nusername:\t%s\ncustom id:\t%s\ngroups:\t%s\n",
			co.ID, cmp.Or(co.Username, "-"), cmp.Or(co.CustomID, "-"), joinOrDash(co.Groups))
	}
	return tw.Flush()
}
