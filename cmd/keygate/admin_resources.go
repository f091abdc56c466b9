package main

import (
	"cmp"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var serviceHeader = []string{"ID", "NAME", "URL", "TAGS"}

func serviceRow(s *keygate.Service) []string {
	return []string{s.ID, s.Name, s.URL, joinOrDash(s.Tags)}
}

// serviceFlags binds the flags of services create and update to s.
func serviceFlags(fs *pflag.FlagSet, s *keygate.Service) map[string]string {
	fs.StringVar(&s.Name, "name", "", "unique name")
	fs.StringVar(&s.URL, "url", "", "upstream base URL, such as http://orders.internal:8080/api")
	fs.IntVar(&s.ConnectTimeout, "connect-timeout", s.ConnectTimeout, "connect timeout in milliseconds")
	fs.IntVar(&s.ReadTimeout, "read-timeout", s.ReadTimeout, "read timeout in milliseconds")
	fs.IntVar(&s.WriteTimeout, "write-timeout", s.WriteTimeout, "write timeout in milliseconds")
	fs.StringSliceVar(&s.Tags, "tag", nil, "tag (repeatable)")
	return map[string]string{"name": "name", "url": "url", "connect-timeout": "connect_timeout",
		"read-timeout": "read_timeout", "write-timeout": "write_timeout", "tag": "tags"}
}

func (a *adminCLI) servicesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "services", Aliases: []string{"service"}, Short: "Manage upstream services"}

	svc := keygate.NewService()
	create := &cobra.Command{
		Use:   "create --name NAME --url URL",
		Short: "Create a service",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			svc.Tags = nonNil(svc.Tags)
			s, err := c.CreateService(cmd.Context(), svc)
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}
	serviceFlags(create.Flags(), svc)

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List services",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Services(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, serviceHeader, serviceRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get SERVICE",
		Short: "Show a service (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			s, err := c.Service(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}

	var fields map[string]string
	update := &cobra.Command{
		Use:   "update SERVICE [flags]",
		Short: "Change the given fields of a service",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			s, err := c.UpdateService(cmd.Context(), args[0], patchFrom(cmd.Flags(), fields))
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}
	fields = serviceFlags(update.Flags(), keygate.NewService())

	del := &cobra.Command{
		Use:   "delete SERVICE",
		Short: "Delete a service that no route uses",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteService(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "service", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

var consumerHeader = []string{"ID", "USERNAME", "CUSTOM-ID", "GROUPS", "TAGS", "ROTATION", "PLAN"}

func consumerRow(c *keygate.Consumer) []string {
	return []string{c.ID, cmp.Or(c.Username, "-"), cmp.Or(c.CustomID, "-"), joinOrDash(c.Groups), joinOrDash(c.Tags), rotationSummary(c), planCell(c.Plan)}
}

// rotationSummary is a consumer's rotation policy in a table cell: how
// often, and for an automatic one how the new key is handed over, such as
// "30d,auto,sealed".
func rotationSummary(c *keygate.Consumer) string {
	p := c.RotationPolicy
	if p == nil {
		return "-"
	}
	s := (time.Duration(p.Every) * time.Second).String()
	if p.Every%(24*60*60) == 0 {
		s = fmt.Sprintf("%dd", p.Every/(24*60*60))
	}
	if p.Auto {
		s += ",auto"
		if c.PublicKey != "" {
			s += ",sealed"
		} else {
			s += ",pickup"
		}
	}
	return s
}

func consumerFlags(fs *pflag.FlagSet, c *keygate.Consumer) map[string]string {
	fs.StringVar(&c.Username, "username", "", "unique username")
	fs.StringVar(&c.CustomID, "custom-id", "", "unique id in your own systems")
	fs.StringSliceVar(&c.Groups, "group", nil, "ACL group (repeatable)")
	fs.StringSliceVar(&c.Tags, "tag", nil, "tag (repeatable)")
	fs.StringVar(&c.PublicKey, "public-key", "", "base64 X25519 public key the new keys of automatic rotations are sealed to (update: \"\" removes it)")
	fs.StringSliceVar(&c.Permissions, "permission", nil, "permission every key of the consumer holds (repeatable; update: replaces them)")
	fs.StringSliceVar(&c.Roles, "role", nil, "role every key of the consumer holds (repeatable; update: replaces them)")
	return map[string]string{"username": "username", "custom-id": "custom_id", "group": "groups", "tag": "tags", "public-key": "public_key",
		"permission": "permissions", "role": "roles"}
}

// rotationFlags are the rotation policy flags of consumers create and update.
type rotationFlags struct {
	every, overlap, notice time.Duration
	auto                   bool
}

func (r *rotationFlags) add(fs *pflag.FlagSet, update bool) {
	every := "rotate each key this long after it was issued, such as 720h (at least 24h)"
	if update {
		every += "; 0 removes the policy"
	}
	fs.DurationVar(&r.every, "rotate-every", 0, every)
	fs.DurationVar(&r.overlap, "rotate-overlap", 0, "how long the old key keeps working after an automatic rotation (at most 720h)")
	fs.DurationVar(&r.notice, "rotate-notice", 0, "how long before a key is due a key.rotation_due event goes out")
	fs.BoolVar(&r.auto, "auto-rotate", false, "rotate keys when due, and hand the new key over: sealed to --public-key in the key.rotated event, or kept for one pickup at the gateway's self-rotate path")
}

// seconds is a duration flag in the API's whole seconds.
func seconds(d time.Duration) int { return int(d.Round(time.Second) / time.Second) }

// policy returns the policy the flags give when creating a consumer; nil
// when no rotation flag is set.
func (r *rotationFlags) policy(fs *pflag.FlagSet) *keygate.RotationPolicy {
	if !r.changed(fs) {
		return nil
	}
	return &keygate.RotationPolicy{Every: seconds(r.every), Overlap: seconds(r.overlap), Notice: seconds(r.notice), Auto: r.auto}
}

// patch returns the rotation_policy of an update's PATCH body: the fields
// whose flags are set, which the server merges into the stored policy; nil
// (JSON null, no policy) for --rotate-every 0.
func (r *rotationFlags) patch(fs *pflag.FlagSet) (policy map[string]any, ok bool) {
	if !r.changed(fs) {
		return nil, false
	}
	if fs.Changed("rotate-every") && r.every == 0 {
		return nil, true
	}
	policy = map[string]any{}
	for flag, field := range map[string]string{"rotate-every": "every", "rotate-overlap": "overlap", "rotate-notice": "notice"} {
		if fs.Changed(flag) {
			d, _ := fs.GetDuration(flag)
			policy[field] = seconds(d)
		}
	}
	if fs.Changed("auto-rotate") {
		policy["auto"] = r.auto
	}
	return policy, true
}

func (r *rotationFlags) changed(fs *pflag.FlagSet) bool {
	for _, f := range []string{"rotate-every", "rotate-overlap", "rotate-notice", "auto-rotate"} {
		if fs.Changed(f) {
			return true
		}
	}
	return false
}

func (a *adminCLI) consumersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "consumers", Aliases: []string{"consumer"}, Short: "Manage consumers (who calls through the gateway)"}

	co := keygate.NewConsumer()
	var createRotation rotationFlags
	var createPlan string
	create := &cobra.Command{
		Use:   "create --username NAME",
		Short: "Create a consumer",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			co.Groups, co.Tags = nonNil(co.Groups), nonNil(co.Tags)
			co.Permissions, co.Roles = nonNil(co.Permissions), nonNil(co.Roles)
			co.RotationPolicy = createRotation.policy(cmd.Flags())
			co.Plan = planFlagRef(createPlan)
			out, err := c.CreateConsumer(cmd.Context(), co)
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}
	consumerFlags(create.Flags(), co)
	createRotation.add(create.Flags(), false)
	planFlag(create.Flags(), &createPlan, "usage plan (id or name) that limits the consumer's requests")

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List consumers",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Consumers(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, consumerHeader, consumerRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get CONSUMER",
		Short: "Show a consumer (by id or username)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			out, err := c.Consumer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}

	var fields map[string]string
	var updateRotation rotationFlags
	var updatePlan string
	update := &cobra.Command{
		Use:   "update CONSUMER [flags]",
		Short: "Change the given fields of a consumer",
		Long: `Change the given fields of a consumer. Rotation flags change only the
policy fields they name; --rotate-every 0 removes the policy. --plan ""
removes the consumer's usage plan.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			patch := patchFrom(cmd.Flags(), fields)
			if policy, ok := updateRotation.patch(cmd.Flags()); ok {
				patch["rotation_policy"] = policy
			}
			if cmd.Flags().Changed("plan") {
				patch["plan"] = planFlagPatch(updatePlan)
			}
			out, err := c.UpdateConsumer(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}
	fields = consumerFlags(update.Flags(), keygate.NewConsumer())
	updateRotation.add(update.Flags(), true)
	planFlag(update.Flags(), &updatePlan, `usage plan (id or name) that limits the consumer's requests; "" removes it`)

	del := &cobra.Command{
		Use:   "delete CONSUMER",
		Short: "Delete a consumer and all its keys",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteConsumer(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "consumer", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
