package storetest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

var plans = entity[*keygate.Plan]{
	name: "plan", nameField: "name", kind: keygate.PlanChanged,
	create: func(e *env, tb testing.TB, name string) *keygate.Plan { return e.plan(tb, newPlan(name)) },
	build:  func(_ *env, _ testing.TB, name string) *keygate.Plan { return newPlan(name) },
	insert: keygate.Store.CreatePlan,
	find:   keygate.Store.FindPlan,
	list:   keygate.Store.ListPlans,
	update: keygate.Store.UpdatePlan,
	delete: keygate.Store.DeletePlan,
	id:     func(p *keygate.Plan) *string { return &p.ID },
	nameOf: func(p *keygate.Plan) string { return p.Name },
	rename: func(p *keygate.Plan, name string) { p.Name = name },
	modify: func(p *keygate.Plan) {
		p.Description, p.Rate, p.Burst = "changed", 0.25, 1
		p.Quotas = keygate.Quotas{Hour: 5000, Month: 1_000_000}
		p.LimitBy, p.Tags = keygate.LimitByKey, []string{"moved"}
		p.HideClientHeaders = !p.HideClientHeaders
		p.Named = []keygate.NamedLimit{{Name: "tokens", Per: "day", Limit: 100_000}, {Name: "gpu-seconds", Rate: 2.5, Burst: 10, Per: "month", Limit: 3600}}
	},
	times: func(p *keygate.Plan) *keygate.Timestamps { return &p.Timestamps },
}

// newPlan returns a plan without route adjustments. Its rate has no short
// decimal form, so that stores are seen to keep every bit of it.
func newPlan(name string) *keygate.Plan {
	p := keygate.NewPlan()
	p.Name, p.Description = name, "the "+name+" plan"
	p.Rate, p.Burst = 100.0/3, 50
	p.Quotas = keygate.Quotas{Minute: 600, Day: 100_000}
	p.LimitBy, p.Tags = keygate.LimitByConsumer, []string{"billing"}
	p.Named = []keygate.NamedLimit{{Name: "tokens", Rate: 100.0 / 3, Per: "hour", Limit: 1_000_000}}
	return p
}

func (e *env) plan(tb testing.TB, p *keygate.Plan) *keygate.Plan {
	tb.Helper()
	check(tb, e.store.CreatePlan(e.ctx, p))
	e.changes.take()
	return p
}

func ptr[T any](v T) *T { return &v }

// clonePlanRoutes copies routes deeply enough to compare with later.
func clonePlanRoutes(routes []keygate.PlanRoute) []keygate.PlanRoute {
	out := slices.Clone(routes)
	for i := range out {
		if out[i].Rate != nil {
			out[i].Rate = ptr(*out[i].Rate)
		}
		if out[i].Quotas != nil {
			out[i].Quotas = ptr(*out[i].Quotas)
		}
	}
	return out
}

func (e *env) planCount(tb testing.TB) int {
	tb.Helper()
	return len(walk(tb, pages(e, plans), 100, plans.idOf))
}

// HideClientHeaders is kept as given on create and update, and read back
// the same by find and list; a plan created without it shows the headers.
func testPlanHideClientHeaders(t *testing.T, s suite) {
	e := s.env(t)
	shown, hidden := newPlan("shown"), newPlan("hidden")
	hidden.HideClientHeaders = true
	e.plan(t, shown)
	e.plan(t, hidden)
	read := func(t *testing.T, want *keygate.Plan) {
		t.Helper()
		for _, ref := range []string{want.ID, want.Name} {
			got, err := e.store.FindPlan(e.ctx, ref)
			check(t, err)
			wantEqual(t, got, want)
		}
		list, _, err := e.store.ListPlans(e.ctx, keygate.Page{Limit: 100})
		check(t, err)
		i := slices.IndexFunc(list, func(p *keygate.Plan) bool { return p.ID == want.ID })
		if i < 0 {
			t.Fatalf("plan %s not listed", want.Name)
		}
		wantEqual(t, list[i], want)
	}
	t.Run("create", func(t *testing.T) {
		if shown.HideClientHeaders || !hidden.HideClientHeaders {
			t.Fatalf("created shown %v, hidden %v", shown.HideClientHeaders, hidden.HideClientHeaders)
		}
		read(t, shown)
		read(t, hidden)
	})
	for _, tt := range []struct {
		name string
		plan *keygate.Plan
		to   bool
	}{
		{"update turns it on", shown, true},
		{"update turns it off", hidden, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			updated, err := e.store.UpdatePlan(e.ctx, tt.plan.ID, func(p *keygate.Plan) error { p.HideClientHeaders = tt.to; return nil })
			check(t, err)
			if updated.HideClientHeaders != tt.to {
				t.Errorf("updated plan has HideClientHeaders %v, want %v", updated.HideClientHeaders, tt.to)
			}
			e.wantChanges(t, keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Updated, ID: tt.plan.ID})
			read(t, updated)
		})
	}
}

func testPlanValidation(t *testing.T, s suite) {
	e := s.env(t)
	r := e.route(t, "invoices", e.service(t, "billing"))
	base := e.plan(t, newPlan("base"))
	byID := keygate.Ref{ID: r.ID}
	tests := []struct {
		name  string
		edit  func(*keygate.Plan)
		field string
	}{
		{"no name", func(p *keygate.Plan) { p.Name = "" }, "name"},
		{"a control character in the description", func(p *keygate.Plan) { p.Description = "a\x07b" }, "description"},
		{"a negative rate", func(p *keygate.Plan) { p.Rate = -1 }, "rate"},
		{"a rate that is not a number", func(p *keygate.Plan) { p.Rate = math.NaN() }, "rate"},
		{"a rate above the maximum", func(p *keygate.Plan) { p.Rate = 2 * keygate.MaxPlanRate }, "rate"},
		{"a burst without a rate", func(p *keygate.Plan) { p.Rate, p.Burst = 0, 5 }, "burst"},
		{"a burst above the maximum", func(p *keygate.Plan) { p.Burst = keygate.MaxPlanBurst + 1 }, "burst"},
		{"a negative quota", func(p *keygate.Plan) { p.Quotas.Day = -1 }, "quotas.day"},
		{"an unknown limit_by", func(p *keygate.Plan) { p.LimitBy = "planet" }, "limit_by"},
		{"a control character in a tag", func(p *keygate.Plan) { p.Tags = []string{"ok", "a\x01"} }, "tags[1]"},
		{"a route adjustment without a route", func(p *keygate.Plan) { p.Routes = []keygate.PlanRoute{{Cost: 2}} }, "routes[0].route"},
		{"a negative cost", func(p *keygate.Plan) { p.Routes = []keygate.PlanRoute{{Route: byID, Cost: -1}} }, "routes[0].cost"},
		{"a route rate of zero", func(p *keygate.Plan) { p.Routes = []keygate.PlanRoute{{Route: byID, Rate: ptr(0.0)}} }, "routes[0].rate"},
		{"a route burst without a route rate", func(p *keygate.Plan) { p.Routes = []keygate.PlanRoute{{Route: byID, Burst: 5}} }, "routes[0].burst"},
		{"a negative route quota", func(p *keygate.Plan) {
			p.Routes = []keygate.PlanRoute{{Route: byID, Quotas: &keygate.Quotas{Month: -5}}}
		}, "routes[0].quotas.month"},
		{"a named limit with a bad name", func(p *keygate.Plan) {
			p.Named = []keygate.NamedLimit{{Name: "ok", Rate: 1}, {Name: "Tokens!", Rate: 1}}
		}, "limits[1].name"},
		{"a named limit called as the plan's own", func(p *keygate.Plan) { p.Named = []keygate.NamedLimit{{Name: "day", Rate: 1}} }, "limits[0].name"},
		{"a named limit listed twice", func(p *keygate.Plan) {
			p.Named = []keygate.NamedLimit{{Name: "tokens", Rate: 1}, {Name: "tokens", Per: "day", Limit: 5}}
		}, "limits[1].name"},
		{"a named limit without a limit", func(p *keygate.Plan) { p.Named = []keygate.NamedLimit{{Name: "tokens"}} }, "limits[0]"},
		{"a named quota of an unknown period", func(p *keygate.Plan) {
			p.Named = []keygate.NamedLimit{{Name: "tokens", Per: "week", Limit: 5}}
		}, "limits[0].per"},
		{"a named quota without a limit", func(p *keygate.Plan) { p.Named = []keygate.NamedLimit{{Name: "tokens", Per: "day"}} }, "limits[0].limit"},
		{"a named limit's negative rate", func(p *keygate.Plan) { p.Named = []keygate.NamedLimit{{Name: "tokens", Rate: -1}} }, "limits[0].rate"},
		{"a route listed twice", func(p *keygate.Plan) { p.Routes = []keygate.PlanRoute{{Route: byID}, {Route: byID}} }, "routes[1].route"},
		{"a route listed by id and by name", func(p *keygate.Plan) {
			p.Routes = []keygate.PlanRoute{{Route: byID}, {Route: keygate.Ref{Name: "invoices"}}}
		}, "routes[1].route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlan("fresh")
			tt.edit(p)
			wantError(t, e.store.CreatePlan(e.ctx, p), keygate.EINVALID, tt.field)
			if p.ID != "" {
				t.Errorf("a refused create set the id %q", p.ID)
			}
			if n := e.planCount(t); n != 1 {
				t.Errorf("%d plans stored, want only the base one", n)
			}

			got, err := e.store.UpdatePlan(e.ctx, base.ID, func(p *keygate.Plan) error { tt.edit(p); return nil })
			wantError(t, err, keygate.EINVALID, tt.field)
			if got != nil {
				t.Errorf("a refused update returned %+v", got)
			}
			stored, err := e.store.FindPlan(e.ctx, base.ID)
			check(t, err)
			wantEqual(t, stored, base)
			e.wantChanges(t)
		})
	}
}

func testPlanRoutes(t *testing.T, s suite) {
	e := s.env(t)
	svc := e.service(t, "billing")
	invoices, payments := e.route(t, "invoices", svc), e.route(t, "payments", svc)

	gold := newPlan("gold")
	gold.Routes = []keygate.PlanRoute{
		{Route: keygate.Ref{Name: "payments"}, Cost: 5, Rate: ptr(2.5), Burst: 3, Quotas: &keygate.Quotas{Day: 50}},
		{Route: keygate.Ref{ID: invoices.ID}, Cost: 2},
	}
	want := clonePlanRoutes(gold.Routes)
	want[0].Route, want[1].Route = keygate.Ref{ID: payments.ID}, keygate.Ref{ID: invoices.ID}

	t.Run("create resolves route refs to ids and keeps the order", func(t *testing.T) {
		check(t, e.store.CreatePlan(e.ctx, gold))
		e.wantChanges(t, keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Created, ID: gold.ID})
		wantEqual(t, gold.Routes, want)
		for _, ref := range []string{gold.ID, "gold"} {
			got, err := e.store.FindPlan(e.ctx, ref)
			check(t, err)
			wantEqual(t, got, gold)
		}
	})

	t.Run("a missing route is NOT_FOUND and nothing is written", func(t *testing.T) {
		for _, missing := range []keygate.Ref{{Name: "nothing"}, {ID: missingID}} {
			p := newPlan("silver")
			p.Routes = []keygate.PlanRoute{{Route: keygate.Ref{Name: "invoices"}}, {Route: missing}}
			wantError(t, e.store.CreatePlan(e.ctx, p), keygate.ENOTFOUND, "routes[1].route")
			if p.ID != "" || p.Routes[0].Route != (keygate.Ref{Name: "invoices"}) {
				t.Errorf("a refused create changed the caller's plan: %+v", p)
			}
			_, err := e.store.FindPlan(e.ctx, "silver")
			wantError(t, err, keygate.ENOTFOUND, "")

			_, err = e.store.UpdatePlan(e.ctx, "gold", func(p *keygate.Plan) error {
				p.Routes = append(p.Routes, keygate.PlanRoute{Route: missing})
				return nil
			})
			wantError(t, err, keygate.ENOTFOUND, "routes[2].route")
			got, err := e.store.FindPlan(e.ctx, gold.ID)
			check(t, err)
			wantEqual(t, got, gold)
		}
		e.wantChanges(t)
	})

	t.Run("list returns every plan with its own routes", func(t *testing.T) {
		silver := newPlan("silver")
		silver.Routes = []keygate.PlanRoute{{Route: keygate.Ref{Name: "invoices"}, Cost: 9}}
		check(t, e.store.CreatePlan(e.ctx, silver))
		bronze := e.plan(t, newPlan("bronze"))
		e.changes.take()
		wantByID := map[string]*keygate.Plan{gold.ID: gold, silver.ID: silver, bronze.ID: bronze}
		for _, limit := range []int{1, 2, 100} {
			var seen int
			walk(t, func(p keygate.Page) ([]*keygate.Plan, string, error) {
				list, next, err := e.store.ListPlans(e.ctx, p)
				for _, got := range list {
					seen++
					if w := wantByID[got.ID]; w == nil {
						t.Errorf("listed unknown plan %+v", got)
					} else {
						wantEqual(t, got, w)
					}
				}
				return list, next, err
			}, limit, plans.idOf)
			if seen != len(wantByID) {
				t.Errorf("limit %d: %d plans listed, want %d", limit, seen, len(wantByID))
			}
		}
		check(t, e.store.DeletePlan(e.ctx, "silver"))
		check(t, e.store.DeletePlan(e.ctx, "bronze"))
		e.changes.take()
	})

	t.Run("update replaces the routes", func(t *testing.T) {
		updated, err := e.store.UpdatePlan(e.ctx, "gold", func(p *keygate.Plan) error {
			p.Routes = []keygate.PlanRoute{{Route: keygate.Ref{Name: "invoices"}, Cost: 7, Quotas: &keygate.Quotas{}}}
			return nil
		})
		check(t, err)
		wantRoutes := []keygate.PlanRoute{{Route: keygate.Ref{ID: invoices.ID}, Cost: 7, Quotas: &keygate.Quotas{}}}
		wantEqual(t, updated.Routes, wantRoutes)
		got, err := e.store.FindPlan(e.ctx, gold.ID)
		check(t, err)
		wantEqual(t, got, updated)
		e.wantChanges(t, keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Updated, ID: gold.ID})
	})

	t.Run("a route a plan adjusts cannot be deleted", func(t *testing.T) {
		for _, ref := range []string{invoices.ID, "invoices"} {
			wantError(t, e.store.DeleteRoute(e.ctx, ref), keygate.ECONFLICT, "")
		}
		if _, err := e.store.FindRoute(e.ctx, invoices.ID); err != nil {
			t.Fatalf("route gone after a refused delete: %v", err)
		}
		e.wantChanges(t)
		// payments is no longer adjusted by any plan.
		check(t, e.store.DeleteRoute(e.ctx, "payments"))
		// Nor, once the plan drops it, is invoices.
		_, err := e.store.UpdatePlan(e.ctx, "gold", func(p *keygate.Plan) error { p.Routes = nil; return nil })
		check(t, err)
		check(t, e.store.DeleteRoute(e.ctx, "invoices"))
		e.wantChanges(t,
			keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: payments.ID},
			keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Updated, ID: gold.ID},
			keygate.Change{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: invoices.ID})
		got, err := e.store.FindPlan(e.ctx, gold.ID)
		check(t, err)
		if got.Routes == nil || len(got.Routes) != 0 {
			t.Errorf("routes = %#v, want an empty list", got.Routes)
		}
	})

	t.Run("deleting a plan releases its routes", func(t *testing.T) {
		r := e.route(t, "refunds", svc)
		p := newPlan("refunds")
		p.Routes = []keygate.PlanRoute{{Route: keygate.Ref{ID: r.ID}}}
		e.plan(t, p)
		check(t, e.store.DeletePlan(e.ctx, "refunds"))
		check(t, e.store.DeleteRoute(e.ctx, "refunds"))
	})
}

func testPlanInUse(t *testing.T, s suite) {
	e := s.env(t)
	gold := e.plan(t, newPlan("gold"))
	alice := newConsumer("alice")
	alice.Plan = &keygate.Ref{Name: "gold"}
	check(t, e.store.CreateConsumer(e.ctx, alice))
	k := newKey(e.consumer(t, "bob").ID, "bobkey")
	k.Plan = &keygate.Ref{ID: gold.ID}
	check(t, e.store.CreateKey(e.ctx, k))
	e.changes.take()

	refused := func(t *testing.T) {
		t.Helper()
		for _, ref := range []string{gold.ID, "gold"} {
			err := e.store.DeletePlan(e.ctx, ref)
			wantError(t, err, keygate.ECONFLICT, "")
			if msg := keygate.ErrorMessage(err); !strings.Contains(msg, "in use") {
				t.Errorf("message %q does not say the plan is in use", msg)
			}
		}
		got, err := e.store.FindPlan(e.ctx, gold.ID)
		check(t, err)
		wantEqual(t, got, gold)
		e.wantChanges(t)
	}
	t.Run("assigned to a consumer and a key", refused)

	_, err := e.store.UpdateConsumer(e.ctx, "alice", func(c *keygate.Consumer) error { c.Plan = nil; return nil })
	check(t, err)
	e.changes.take()
	t.Run("assigned to a key", refused)

	check(t, e.store.DeleteKey(e.ctx, k.ID))
	e.changes.take()
	check(t, e.store.DeletePlan(e.ctx, "gold"))
	e.wantChanges(t, keygate.Change{Kind: keygate.PlanChanged, Op: keygate.Deleted, ID: gold.ID})
	_, err = e.store.FindPlan(e.ctx, gold.ID)
	wantError(t, err, keygate.ENOTFOUND, "")
}

func testConsumerPlan(t *testing.T, s suite) {
	e := s.env(t)
	gold, silver := e.plan(t, newPlan("gold")), e.plan(t, newPlan("silver"))

	c := newConsumer("alice")
	c.Plan = &keygate.Ref{Name: "gold"}
	check(t, e.store.CreateConsumer(e.ctx, c))
	e.wantChanges(t, keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Created, ID: c.ID})

	t.Run("create resolves the plan to its id", func(t *testing.T) {
		if want := (&keygate.Ref{ID: gold.ID}); c.Plan == nil || *c.Plan != *want {
			t.Fatalf("created consumer's plan = %+v, want %+v", c.Plan, want)
		}
		got, err := e.store.FindConsumer(e.ctx, "alice")
		check(t, err)
		wantEqual(t, got, c)
		list, _, err := e.store.ListConsumers(e.ctx, keygate.Page{})
		check(t, err)
		if len(list) != 1 {
			t.Fatalf("%d consumers listed, want 1", len(list))
		}
		wantEqual(t, list[0], c)
	})

	t.Run("the verifiers' lookups carry it", func(t *testing.T) {
		k := e.key(t, c, "alicekey")
		_, consumer, err := e.store.LookupKey(e.ctx, k.Identifier)
		check(t, err)
		wantEqual(t, consumer, c)
		e.addVersions(t, 1)
		e.hmacCredential(t, c, "alice-signer")
		_, consumer, err = e.store.LookupHMACCredential(e.ctx, "alice-signer")
		check(t, err)
		wantEqual(t, consumer, c)
	})

	t.Run("update assigns another plan or none", func(t *testing.T) {
		updated, err := e.store.UpdateConsumer(e.ctx, "alice", func(c *keygate.Consumer) error {
			c.Plan = &keygate.Ref{ID: silver.ID}
			return nil
		})
		check(t, err)
		if updated.Plan == nil || *updated.Plan != (keygate.Ref{ID: silver.ID}) {
			t.Errorf("plan = %+v, want silver's id", updated.Plan)
		}
		e.wantChanges(t, keygate.Change{Kind: keygate.ConsumerChanged, Op: keygate.Updated, ID: c.ID})

		for _, none := range []*keygate.Ref{nil, {}} {
			updated, err = e.store.UpdateConsumer(e.ctx, "alice", func(c *keygate.Consumer) error { c.Plan = none; return nil })
			check(t, err)
			if updated.Plan != nil {
				t.Errorf("plan = %+v after setting %+v, want nil", updated.Plan, none)
			}
			got, err := e.store.FindConsumer(e.ctx, c.ID)
			check(t, err)
			wantEqual(t, got, updated)
		}
		e.changes.take()
	})

	t.Run("an unknown plan is NOT_FOUND and nothing is written", func(t *testing.T) {
		before, err := e.store.FindConsumer(e.ctx, c.ID)
		check(t, err)
		for _, ref := range []keygate.Ref{{Name: "nothing"}, {ID: missingID}} {
			fresh := newConsumer("bob")
			fresh.Plan = &ref
			wantError(t, e.store.CreateConsumer(e.ctx, fresh), keygate.ENOTFOUND, "plan")
			if fresh.ID != "" || *fresh.Plan != ref {
				t.Errorf("a refused create changed the caller's consumer: %+v", fresh)
			}
			_, err := e.store.FindConsumer(e.ctx, "bob")
			wantError(t, err, keygate.ENOTFOUND, "")

			_, err = e.store.UpdateConsumer(e.ctx, c.ID, func(c *keygate.Consumer) error {
				c.Plan, c.Groups = &ref, []string{"lost"}
				return nil
			})
			wantError(t, err, keygate.ENOTFOUND, "plan")
			got, err := e.store.FindConsumer(e.ctx, c.ID)
			check(t, err)
			wantEqual(t, got, before)
		}
		e.wantChanges(t)
	})
}

func testKeyPlan(t *testing.T, s suite) {
	e := s.env(t)
	gold, silver := e.plan(t, newPlan("gold")), e.plan(t, newPlan("silver"))
	c := newConsumer("alice")
	c.Plan = &keygate.Ref{ID: silver.ID}
	check(t, e.store.CreateConsumer(e.ctx, c))
	e.changes.take()

	k := newKey(c.ID, "withplan")
	k.Plan = &keygate.Ref{Name: "gold"}
	check(t, e.store.CreateKey(e.ctx, k))
	e.wantChanges(t, keygate.Change{Kind: keygate.KeyChanged, Op: keygate.Created, ID: k.ID, KeyIdentifier: k.Identifier})
	plain := e.key(t, c, "noplan")

	t.Run("create resolves the plan to its id", func(t *testing.T) {
		if k.Plan == nil || *k.Plan != (keygate.Ref{ID: gold.ID}) {
			t.Fatalf("created key's plan = %+v, want gold's id", k.Plan)
		}
		if plain.Plan != nil {
			t.Errorf("key created without a plan has %+v", plain.Plan)
		}
		for _, want := range []*keygate.APIKey{k, plain} {
			got, err := e.store.FindKey(e.ctx, want.ID)
			check(t, err)
			wantEqual(t, got, want)
			looked, consumer, err := e.store.LookupKey(e.ctx, want.Identifier)
			check(t, err)
			wantEqual(t, looked, want)
			wantEqual(t, consumer, c)
			if got := keygate.PlanOf(looked, consumer); got != keygate.PlanOf(want, c) {
				t.Errorf("PlanOf = %q", got)
			}
		}
		list, _, err := e.store.ListKeys(e.ctx, keygate.KeyFilter{ConsumerID: c.ID}, keygate.Page{})
		check(t, err)
		if len(list) != 2 {
			t.Fatalf("%d keys listed, want 2", len(list))
		}
		wantEqual(t, list[0], k)
		wantEqual(t, list[1], plain)
	})

	t.Run("an unknown plan is NOT_FOUND and nothing is written", func(t *testing.T) {
		for i, ref := range []keygate.Ref{{Name: "nothing"}, {ID: missingID}} {
			fresh := newKey(c.ID, fmt.Sprintf("refused%d", i))
			fresh.Plan = &ref
			wantError(t, e.store.CreateKey(e.ctx, fresh), keygate.ENOTFOUND, "plan")
			if fresh.ID != "" || *fresh.Plan != ref {
				t.Errorf("a refused create changed the caller's key: %+v", fresh)
			}
			_, _, err := e.store.LookupKey(e.ctx, fresh.Identifier)
			wantError(t, err, keygate.ENOTFOUND, "")
		}
		e.wantChanges(t)
	})

	t.Run("a successor has the plan it is given", func(t *testing.T) {
		next := successorOf(k, "successor")
		next.Plan = &keygate.Ref{Name: "silver"}
		_, err := e.store.RotateKey(e.ctx, k.ID, next, e.clock.Now().Add(time.Hour))
		check(t, err)
		if next.Plan == nil || *next.Plan != (keygate.Ref{ID: silver.ID}) {
			t.Errorf("successor's plan = %+v, want silver's id", next.Plan)
		}
		got, err := e.store.FindKey(e.ctx, next.ID)
		check(t, err)
		wantEqual(t, got, next)
	})
}

// Plans are audited as every entity is: who created, changed and deleted
// them, and why.
func testPlanAudit(t *testing.T, s suite) {
	e := s.env(t)
	ctx := keygate.WithActor(e.ctx, "admin:ops")
	p := newPlan("gold")
	check(t, e.store.CreatePlan(ctx, p))
	wantError(t, e.store.CreatePlan(ctx, newPlan("gold")), keygate.ECONFLICT, "name")
	_, err := e.store.UpdatePlan(keygate.WithReason(ctx, "ticket 7"), "gold", func(p *keygate.Plan) error { p.Rate = 1; return nil })
	check(t, err)
	check(t, e.store.DeletePlan(ctx, "gold"))

	events, _, err := e.store.ListAudit(e.ctx, keygate.AuditFilter{TargetID: p.ID}, keygate.Page{Limit: 100})
	check(t, err)
	type row struct{ actor, action, kind, reason string }
	want := []row{
		{"admin:ops", "plan.created", "plan", ""},
		{"admin:ops", "plan.updated", "plan", "ticket 7"},
		{"admin:ops", "plan.deleted", "plan", ""},
	}
	if len(events) != len(want) {
		t.Fatalf("%d audit events, want %d: %+v", len(events), len(want), events)
	}
	for i, ev := range events {
		if got := (row{ev.Actor, ev.Action, ev.TargetKind, ev.Reason}); got != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got, want[i])
		}
	}
}
