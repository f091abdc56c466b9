package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var accessHeader = []string{"ID", "CONSUMER", "STATUS", "PLAN", "SERVICES", "ROUTES", "REQUESTED-BY", "DECIDED-BY", "KEY"}

func accessRow(r *keygate.AccessRequest) []string {
	return []string{r.ID, r.Consumer.String(), string(r.Status), cmp.Or(r.Plan, "-"), joinOrDash(r.Services),
		joinOrDash(r.Routes), cmp.Or(r.RequestedBy, "-"), cmp.Or(r.DecidedBy, "-"), cmp.Or(r.KeyID, "-")}
}

func (a *adminCLI) accessCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Request access to services, approve or deny it, pick up the key"}

	var in keygate.AccessRequestInput
	request := &cobra.Command{
		Use:   "request CONSUMER --service S | --route R [--plan P] [--reason TEXT] | --kind plan_change --plan P [--key ID]",
		Short: "Request access for a consumer; prints the pickup token once",
		Long: `Request access to services and/or routes for a consumer (id or username).
An access rule may approve it at once. The pickup token printed lets the
requester pick the key up once the request is approved, without an admin
token: keep it, it is shown only now. With --kind plan_change it asks to move
the consumer (or its key --key) to the usage plan --plan instead; approved,
the plan switches at once and nothing is picked up.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			in.Consumer = refOf(args[0])
			r, err := c.RequestAccess(cmd.Context(), in)
			if err != nil {
				return err
			}
			if a.json || r.Kind == keygate.AccessKindPlanChange {
				return a.show(cmd, r, accessHeader, accessRow(&r.AccessRequest))
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Pickup token for access request %s:\n\n    %s\n\n", r.ID, r.PickupToken)
			fmt.Fprintf(out, "Keep it: it will not be shown again. Once the request is approved, pick the key up with\n"+
				"KEYGATE_PICKUP_TOKEN=<token> keygate access pickup %s\n\n", r.ID)
			return a.show(cmd, r, accessHeader, accessRow(&r.AccessRequest))
		}),
	}
	f := request.Flags()
	f.StringSliceVar(&in.Services, "service", nil, "service (id or name) wanted (repeatable)")
	f.StringSliceVar(&in.Routes, "route", nil, "route (id or name) wanted (repeatable)")
	f.StringVar(&in.Plan, "plan", "", "plan asked for")
	f.StringVar(&in.Reason, "reason", "", "why access is needed")
	f.StringVar(&in.Kind, "kind", "", "what is asked for: key (the default: a key for --service/--route) or plan_change (move to --plan)")
	f.StringVar(&in.Key, "key", "", "with --kind plan_change: the key (id) whose own plan changes; none: the consumer's")

	var (
		page   keygate.Page
		filter keygate.AccessRequestFilter
		status string
	)
	list := &cobra.Command{
		Use:   "list [--status S] [--consumer C]",
		Short: "List access requests, oldest first",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			filter.Status = keygate.AccessStatus(status)
			items, next, err := c.AccessRequests(cmd.Context(), filter, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, accessHeader, accessRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&status, "status", "", "only requests in this status: pending, approved, denied or picked_up")
	list.Flags().StringVar(&filter.ConsumerID, "consumer", "", "only the requests of this consumer (id or username)")

	get := &cobra.Command{
		Use:   "get REQUEST-ID",
		Short: "Show an access request",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			r, err := c.AccessRequest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, r, accessHeader, accessRow(r))
		}),
	}
	cmd.AddCommand(request, list, get, a.accessDecisionCommand(true), a.accessDecisionCommand(false), a.accessPickupCommand())
	return cmd
}

func (a *adminCLI) accessDecisionCommand(approve bool) *cobra.Command {
	use, short := "deny", "Deny a pending access request"
	if approve {
		use, short = "approve", "Approve a pending access request: its key is issued, for the requester to pick up once"
	}
	var reason string
	cmd := &cobra.Command{
		Use:   use + " REQUEST-ID [--reason TEXT]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			decide := c.DenyAccess
			if approve {
				decide = c.ApproveAccess
			}
			r, err := decide(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return a.show(cmd, r, accessHeader, accessRow(r))
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record")
	return cmd
}

func (a *adminCLI) accessPickupCommand() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "pickup REQUEST-ID [--pickup-token TOKEN|-]",
		Short: "Pick up an approved request's key, once",
		Long: `Pick up the key an approved access request issued. It is shown this once.
With a pickup token (--pickup-token, or KEYGATE_PICKUP_TOKEN, which keeps it out
of the process list; "-" reads it from standard input) no admin token is
needed; without one, the admin token is used.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.pickUp(cmd, args[0], token)
			if err != nil {
				printAdminError(cmd.ErrOrStderr(), err)
				return errReported
			}
			if a.json {
				return a.show(cmd, res, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "API key for consumer %s (access request %s):\n\n    %s\n\n", res.Key.Consumer.String(), res.Request.ID, res.Key.Key)
			fmt.Fprintf(out, "Copy it now: it is stored only as a hash and will not be shown again.\n\n")
			return a.show(cmd, res, keyHeader, keyRow(&res.Key.APIKey))
		},
	}
	cmd.Flags().StringVar(&token, "pickup-token", "", `pickup token from the request ("-": read it from standard input; env KEYGATE_PICKUP_TOKEN)`)
	return cmd
}

func (a *adminCLI) pickUp(cmd *cobra.Command, id, token string) (*keygate.AccessPickup, error) {
	token = cmp.Or(token, os.Getenv("KEYGATE_PICKUP_TOKEN"))
	if token == "-" {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("reading the pickup token from standard input: %w", err)
		}
		if token = strings.TrimSpace(line); token == "" {
			return nil, errors.New("no pickup token on standard input")
		}
	}
	if token != "" {
		c := client.New(cmp.Or(a.url, os.Getenv("KEYGATE_ADMIN_URL"), defaultAdminURL), "")
		return c.PickUpAccessWithToken(cmd.Context(), id, token)
	}
	c, err := a.client()
	if err != nil {
		return nil, errors.New("no pickup token or admin token: set KEYGATE_PICKUP_TOKEN (or use --pickup-token) or KEYGATE_ADMIN_TOKEN")
	}
	return c.PickUpAccess(cmd.Context(), id)
}

var accessRuleHeader = []string{"ID", "NAME", "PLAN", "GROUPS", "SERVICES", "ENABLED"}

func accessRuleRow(r *keygate.AccessRule) []string {
	return []string{r.ID, r.Name, r.Plan, joinOrDash(r.ConsumerGroups), joinOrDash(r.Services), strconv.FormatBool(r.Enabled)}
}

func (a *adminCLI) accessRulesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "access-rules", Aliases: []string{"access-rule"},
		Short: "Manage the rules that approve access requests at once"}

	rule := keygate.NewAccessRule()
	var disabled bool
	create := &cobra.Command{
		Use:   "create NAME --plan P --group G [--service S] [--disabled]",
		Short: "Create a rule: requests for the plan by a consumer in any of the groups (for the services, if given) are approved at once",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			rule.Name, rule.Enabled = args[0], !disabled
			rule.ConsumerGroups, rule.Services = nonNil(rule.ConsumerGroups), nonNil(rule.Services)
			r, err := c.CreateAccessRule(cmd.Context(), rule)
			if err != nil {
				return err
			}
			return a.show(cmd, r, accessRuleHeader, accessRuleRow(r))
		}),
	}
	f := create.Flags()
	f.StringVar(&rule.Plan, "plan", "", "plan the request must ask for (exact match)")
	f.StringSliceVar(&rule.ConsumerGroups, "group", nil, "consumer group, any of which the consumer must be in (repeatable)")
	f.StringSliceVar(&rule.Services, "service", nil, "service (id or name) the request may ask for; none: any (repeatable)")
	f.BoolVar(&disabled, "disabled", false, "create the rule disabled")

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List rules in the order they are tried",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.AccessRules(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, accessRuleHeader, accessRuleRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get RULE",
		Short: "Show a rule (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			r, err := c.AccessRule(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, r, accessRuleHeader, accessRuleRow(r))
		}),
	}

	var upd keygate.AccessRule
	update := &cobra.Command{
		Use:   "update RULE [flags]",
		Short: "Change a rule; only the flags given change",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			patch := patchFrom(cmd.Flags(), map[string]string{"name": "name", "plan": "plan", "group": "consumer_groups",
				"service": "services", "enabled": "enabled"})
			r, err := c.UpdateAccessRule(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, r, accessRuleHeader, accessRuleRow(r))
		}),
	}
	uf := update.Flags()
	uf.StringVar(&upd.Name, "name", "", "new unique name")
	uf.StringVar(&upd.Plan, "plan", "", "plan the request must ask for")
	uf.StringSliceVar(&upd.ConsumerGroups, "group", nil, "consumer groups, replacing the rule's (repeatable)")
	uf.StringSliceVar(&upd.Services, "service", nil, "services, replacing the rule's; --service= for any (repeatable)")
	uf.BoolVar(&upd.Enabled, "enabled", true, "whether the rule applies (--enabled=false to disable it)")

	del := &cobra.Command{
		Use:   "delete RULE",
		Short: "Delete a rule",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteAccessRule(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "access rule", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
