package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var planHeader = []string{"ID", "NAME", "RATE", "BURST", "QUOTAS", "LIMIT-BY", "HIDE-HEADERS", "ROUTES"}

func planRow(p *keygate.Plan) []string {
	rate, burst := "-", "-"
	if p.Rate > 0 {
		rate = strconv.FormatFloat(p.Rate, 'g', -1, 64) + "/s"
	}
	if p.Burst > 0 {
		burst = strconv.Itoa(p.Burst)
	}
	routes := "-"
	if len(p.Routes) > 0 {
		routes = strconv.Itoa(len(p.Routes))
	}
	return []string{p.ID, p.Name, rate, burst, quotaSummary(p.Quotas), string(p.LimitBy), strconv.FormatBool(p.HideClientHeaders), routes}
}

// quotaSummary is a plan's quotas in a table cell, such as "hour:1000,month:50000".
func quotaSummary(q keygate.Quotas) string {
	var parts []string
	for p := keygate.Minute; p <= keygate.Month; p++ {
		if n := q.Of(p); n > 0 {
			parts = append(parts, p.String()+":"+strconv.FormatInt(n, 10))
		}
	}
	return joinOrDash(parts)
}

// planFlags holds the flags of plans create and update.
type planFlags struct {
	name, description, limitBy string
	rate                       float64
	burst                      int
	quotas                     [keygate.PeriodCount]int64
	routeCosts, tags           []string
	clearRoutes, hideHeaders   bool
}

func newPlanFlags(fs *pflag.FlagSet, update bool) *planFlags {
	f := &planFlags{}
	fs.StringVar(&f.name, "name", "", "unique name")
	fs.StringVar(&f.description, "description", "", "what the plan is for")
	fs.Float64Var(&f.rate, "rate", 0, "sustained requests per second (0: no rate limit)")
	fs.IntVar(&f.burst, "burst", 0, "requests that may arrive at once (0: the rate, rounded up; needs --rate)")
	for p := keygate.Minute; p <= keygate.Month; p++ {
		fs.Int64Var(&f.quotas[p-1], "quota-"+p.String(), 0, fmt.Sprintf("requests (weighed by cost) per calendar %s, UTC (0: none)", p))
	}
	fs.StringVar(&f.limitBy, "limit-by", "", "whose requests share the limits: key (default), consumer, ip or route")
	fs.BoolVar(&f.hideHeaders, "hide-client-headers", false, "leave the RateLimit-* and X-RateLimit-* headers out of responses (a refusal keeps Retry-After)")
	what := "what one request to ROUTE (id or name) counts against the limits (repeatable)"
	if update {
		what += "; other routes' entries are kept"
		fs.BoolVar(&f.clearRoutes, "clear-routes", false, "remove every route's entry (costs and overrides) first")
	}
	fs.StringArrayVar(&f.routeCosts, "route-cost", nil, "ROUTE=COST: "+what)
	fs.StringSliceVar(&f.tags, "tag", nil, "tag (repeatable)")
	return f
}

// planFields maps the flags of plain fields to their JSON names, for patchFrom.
var planFields = map[string]string{"name": "name", "description": "description", "burst": "burst", "limit-by": "limit_by",
	"hide-client-headers": "hide_client_headers", "tag": "tags"}

// plan is the plan the flags of plans create describe.
func (f *planFlags) plan() *keygate.Plan {
	p := &keygate.Plan{Name: f.name, Description: f.description, Rate: f.rate, Burst: f.burst,
		LimitBy: keygate.LimitBy(f.limitBy), HideClientHeaders: f.hideHeaders, Tags: nonNil(f.tags)}
	p.Quotas = keygate.Quotas{Minute: f.quotas[0], Hour: f.quotas[1], Day: f.quotas[2], Month: f.quotas[3]}
	return p
}

// patch returns the PATCH body of the flags given; the server merges its
// quotas into the stored ones.
func (f *planFlags) patch(fs *pflag.FlagSet) map[string]any {
	b := patchFrom(fs, planFields)
	if fs.Changed("rate") {
		b["rate"] = f.rate
	}
	quotas := map[string]int64{}
	for p := keygate.Minute; p <= keygate.Month; p++ {
		if fs.Changed("quota-" + p.String()) {
			quotas[p.String()] = f.quotas[p-1]
		}
	}
	if len(quotas) > 0 {
		b["quotas"] = quotas
	}
	return b
}

// routeCost is one --route-cost.
type routeCost struct {
	route string
	cost  int
}

func parseRouteCosts(flags []string) ([]routeCost, error) {
	out := make([]routeCost, len(flags))
	for i, s := range flags {
		route, cost, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(cost)
		if !ok || route == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("--route-cost: must be ROUTE=COST with a whole number COST, such as orders-api=5")
		}
		out[i] = routeCost{route, n}
	}
	return out, nil
}

// planRoutes returns the routes entries of a plan after the --route-cost
// flags: on create, one per flag; on update, cur's (none with
// --clear-routes) with each flag's cost set, the entry added if missing.
// The API replaces routes as a whole, so an update names each route by id
// to find its entry.
func (a *adminCLI) planRoutes(cmd *cobra.Command, c *client.Client, f *planFlags, cur *keygate.Plan) ([]keygate.PlanRoute, error) {
	costs, err := parseRouteCosts(f.routeCosts)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		routes := make([]keygate.PlanRoute, len(costs))
		for i, rc := range costs {
			routes[i] = keygate.PlanRoute{Route: refOf(rc.route), Cost: rc.cost}
		}
		return routes, nil
	}
	routes := []keygate.PlanRoute{}
	if !f.clearRoutes {
		routes = append(routes, cur.Routes...)
	}
next:
	for _, rc := range costs {
		rt, err := c.Route(cmd.Context(), rc.route)
		if err != nil {
			return nil, err
		}
		for i := range routes {
			if routes[i].Route.ID == rt.ID {
				routes[i].Cost = rc.cost
				continue next
			}
		}
		routes = append(routes, keygate.PlanRoute{Route: keygate.Ref{ID: rt.ID}, Cost: rc.cost})
	}
	return routes, nil
}

func (a *adminCLI) plansCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "plans", Aliases: []string{"plan"}, Short: "Manage usage plans (rates and quotas for consumers and keys)"}

	var cf *planFlags
	create := &cobra.Command{
		Use:   "create --name NAME [--rate R] [--quota-day N] [flags]",
		Short: "Create a usage plan",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			in := cf.plan()
			var err error
			if in.Routes, err = a.planRoutes(cmd, c, cf, nil); err != nil {
				return err
			}
			p, err := c.CreatePlan(cmd.Context(), in)
			if err != nil {
				return err
			}
			return a.show(cmd, p, planHeader, planRow(p))
		}),
	}
	cf = newPlanFlags(create.Flags(), false)

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List usage plans",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Plans(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, planHeader, planRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get PLAN",
		Short: "Show a usage plan (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			p, err := c.Plan(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, p, planHeader, planRow(p))
		}),
	}

	var uf *planFlags
	update := &cobra.Command{
		Use:   "update PLAN [flags]",
		Short: "Change the given fields of a usage plan",
		Long: `Change the given fields of a usage plan. A --quota-* flag changes that
quota only (0 removes it); --route-cost sets one route's cost and keeps the
other routes' entries unless --clear-routes is given;
--hide-client-headers=false shows the rate limit headers again.`,
		Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			fs := cmd.Flags()
			patch := uf.patch(fs)
			if fs.Changed("route-cost") || uf.clearRoutes {
				// Routes are replaced as a whole: start from the current ones.
				cur, err := c.Plan(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if patch["routes"], err = a.planRoutes(cmd, c, uf, cur); err != nil {
					return err
				}
			}
			p, err := c.UpdatePlan(cmd.Context(), args[0], patch)
			if err != nil {
				return err
			}
			return a.show(cmd, p, planHeader, planRow(p))
		}),
	}
	uf = newPlanFlags(update.Flags(), true)

	del := &cobra.Command{
		Use:   "delete PLAN",
		Short: "Delete a usage plan no consumer or key is assigned",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeletePlan(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "plan", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

// planFlag adds --plan to a consumer or key command.
func planFlag(fs *pflag.FlagSet, p *string, usage string) {
	fs.StringVar(p, "plan", "", usage)
}

// planFlagRef is --plan as a create request's plan: nil for none.
func planFlagRef(plan string) *keygate.Ref {
	if plan == "" {
		return nil
	}
	r := refOf(plan)
	return &r
}

// planFlagPatch is --plan in a PATCH body: the plan's id or name, or null
// (no plan) for "".
func planFlagPatch(plan string) any {
	if plan == "" {
		return nil
	}
	return plan
}

// planCell is the PLAN cell of a consumer's or a key's row.
func planCell(r *keygate.Ref) string {
	if r == nil || r.IsZero() {
		return "-"
	}
	return r.String()
}
