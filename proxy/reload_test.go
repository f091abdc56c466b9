package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

// listCounter is a real store that counts the reads of whole tables: a
// change patching the routing table must not make any.
type listCounter struct {
	*sqlite.DB
	lists atomic.Int64
}

func (s *listCounter) ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error) {
	s.lists.Add(1)
	return s.DB.ListServices(ctx, p)
}

func (s *listCounter) ListRoutes(ctx context.Context, f keygate.RouteFilter, p keygate.Page) ([]*keygate.Route, string, error) {
	s.lists.Add(1)
	return s.DB.ListRoutes(ctx, f, p)
}

func (s *listCounter) ListPlans(ctx context.Context, p keygate.Page) ([]*keygate.Plan, string, error) {
	s.lists.Add(1)
	return s.DB.ListPlans(ctx, p)
}

// newStoreProxy returns a proxy on a new SQLite store whose changes it
// applies as serve wires them: after each commit, before the write returns.
func newStoreProxy(t *testing.T) (*Proxy, *listCounter) {
	t.Helper()
	var p *Proxy
	db, err := sqlite.Open(context.Background(), sqlitetest.Path(t), sqlite.Options{
		OnChange: func(c keygate.Change) {
			if p != nil {
				p.Apply(c)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := &listCounter{DB: db}
	p = New(store, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(p.Close)
	return p, store
}

// TestApplyPatchesTable makes changes of every kind the routing table is
// built from and checks, after each, that the table was patched without
// reading every route again, and that it routes every request as a table
// rebuilt from the store does.
func TestApplyPatchesTable(t *testing.T) {
	ctx := context.Background()
	p, store := newStoreProxy(t)
	ids := map[string]string{} // name → id, for the steps that need one
	service := func(name, url string) {
		s := keygate.NewService()
		s.Name, s.URL = name, url
		check(t, store.CreateService(ctx, s))
		ids[name] = s.ID
	}
	route := func(name, service string, edit func(*keygate.Route)) {
		r := keygate.NewRoute()
		r.Name, r.Service, r.Paths = name, keygate.Ref{Name: service}, []string{"/" + name}
		if edit != nil {
			edit(r)
		}
		check(t, store.CreateRoute(ctx, r))
		ids[name] = r.ID
	}
	updateRoute := func(name string, edit func(*keygate.Route)) {
		_, err := store.UpdateRoute(ctx, name, func(r *keygate.Route) error { edit(r); return nil })
		check(t, err)
	}
	service("orders", "http://orders.internal")
	service("billing", "http://billing.internal")
	for i := range 20 {
		route(fmt.Sprintf("r%d", i), "orders", nil)
	}
	check(t, p.Reload(ctx))

	steps := []struct {
		name   string
		change func()
	}{
		{"route created", func() { route("new", "orders", nil) }},
		{"route on a host", func() { route("host", "orders", func(r *keygate.Route) { r.Hosts = []string{"api.example.com"} }) }},
		{"route on a wildcard host", func() {
			route("wild", "billing", func(r *keygate.Route) { r.Hosts = []string{"*.example.com"}; r.Paths = nil })
		}},
		{"route sharing a path, with methods", func() {
			route("r1-post", "billing", func(r *keygate.Route) { r.Paths, r.Methods = []string{"/r1"}, []string{"POST"} })
		}},
		{"route sharing a path with an equal route", func() {
			route("r2-twin", "billing", func(r *keygate.Route) { r.Paths = []string{"/r2", "/r2/deep"} })
		}},
		{"route's paths changed", func() { updateRoute("r3", func(r *keygate.Route) { r.Paths = []string{"/moved", "/r4/sub"} }) }},
		{"route moved to another host", func() { updateRoute("host", func(r *keygate.Route) { r.Hosts = []string{"other.example.com"} }) }},
		{"route moved to another service", func() { updateRoute("r5", func(r *keygate.Route) { r.Service = keygate.Ref{Name: "billing"} }) }},
		{"route's host list emptied", func() { updateRoute("wild", func(r *keygate.Route) { r.Hosts = []string{} }) }},
		{"route deleted", func() { check(t, store.DeleteRoute(ctx, "r6")) }},
		{"service's URL changed", func() {
			_, err := store.UpdateService(ctx, "billing", func(s *keygate.Service) error { s.URL = "http://billing-v2.internal"; return nil })
			check(t, err)
		}},
		{"service created with a route", func() { service("fresh", "http://fresh.internal"); route("fresh", "fresh", nil) }},
		{"service deleted after its route", func() {
			check(t, store.DeleteRoute(ctx, "fresh"))
			check(t, store.DeleteService(ctx, "fresh"))
		}},
		{"route naming an anonymous consumer not there yet", func() {
			route("anon", "orders", func(r *keygate.Route) {
				r.KeyAuth = keygate.NewKeyAuthConfig()
				r.KeyAuth.Anonymous = "guest"
			})
		}},
		{"anonymous consumer created", func() {
			c := keygate.NewConsumer()
			c.Username = "guest"
			check(t, store.CreateConsumer(ctx, c))
		}},
		{"anonymous consumer renamed away", func() {
			_, err := store.UpdateConsumer(ctx, "guest", func(c *keygate.Consumer) error { c.Username = "visitor"; return nil })
			check(t, err)
		}},
		{"anonymous consumer named by the route again", func() {
			updateRoute("anon", func(r *keygate.Route) { r.KeyAuth.Anonymous = "visitor" })
		}},
		{"plan created", func() {
			pl := keygate.NewPlan()
			pl.Name, pl.Rate = "gold", 10
			check(t, store.CreatePlan(ctx, pl))
			ids["gold"] = pl.ID
		}},
		{"plan changed", func() {
			_, err := store.UpdatePlan(ctx, "gold", func(pl *keygate.Plan) error { pl.Rate = 20; return nil })
			check(t, err)
		}},
		{"plan deleted", func() { check(t, store.DeletePlan(ctx, "gold")) }},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			store.lists.Store(0)
			step.change()
			if n := store.lists.Load(); n != 0 {
				t.Errorf("the change read whole tables %d times; want it patched in", n)
			}
			wantSameRouting(t, p, store)
		})
	}
}

// TestReplayedChangeKeepsTable applies a change again, as the change log
// replays this node's own: the table is not copied again.
func TestReplayedChangeKeepsTable(t *testing.T) {
	ctx := context.Background()
	p, store := newStoreProxy(t)
	s := keygate.NewService()
	s.Name, s.URL = "orders", "http://orders.internal"
	check(t, store.CreateService(ctx, s))
	r := keygate.NewRoute()
	r.Name, r.Service, r.Paths = "orders", keygate.Ref{Name: "orders"}, []string{"/orders"}
	check(t, store.CreateRoute(ctx, r))
	gone := keygate.NewRoute()
	gone.Name, gone.Service = "gone", keygate.Ref{Name: "orders"}
	check(t, store.CreateRoute(ctx, gone))
	check(t, store.DeleteRoute(ctx, gone.ID))
	for _, c := range []keygate.Change{
		{Kind: keygate.RouteChanged, Op: keygate.Created, ID: r.ID},
		{Kind: keygate.RouteChanged, Op: keygate.Deleted, ID: gone.ID},
		{Kind: keygate.ServiceChanged, Op: keygate.Created, ID: s.ID},
	} {
		before := p.table.Load()
		p.Apply(c)
		if p.table.Load() != before {
			t.Errorf("%s %s %s replayed: the table was replaced", c.Kind, c.Op, c.ID)
		}
	}
}

// TestApplyConcurrently has writers create, move and delete routes at
// once while the same changes are applied again (as the change log
// replays them) and requests are matched: each route is routed as soon as
// its write returned, and the table ends as one rebuilt from the store.
func TestApplyConcurrently(t *testing.T) {
	ctx := context.Background()
	p, store := newStoreProxy(t)
	for _, name := range []string{"a", "b"} {
		s := keygate.NewService()
		s.Name, s.URL = name, "http://"+name+".internal"
		check(t, store.CreateService(ctx, s))
	}
	check(t, p.Reload(ctx))
	replays := make(chan keygate.Change, 1000)
	done := make(chan struct{})
	var background sync.WaitGroup
	background.Go(func() {
		for c := range replays {
			p.Apply(c)
		}
	})
	background.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				p.table.Load().match("gw", "/w0-0/x", "GET")
			}
		}
	})
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for i := range 25 {
				name := fmt.Sprintf("w%d-%d", w, i)
				r := keygate.NewRoute()
				r.Name, r.Service, r.Paths = name, keygate.Ref{Name: "a"}, []string{"/" + name}
				if err := store.CreateRoute(ctx, r); err != nil {
					t.Error(err)
					return
				}
				if got, _ := p.table.Load().match("gw", "/"+name+"/x", "GET"); got == nil || got.ID != r.ID {
					t.Errorf("route %s not routed once created", name)
				}
				replays <- keygate.Change{Kind: keygate.RouteChanged, ID: r.ID}
				switch i % 3 {
				case 1:
					if _, err := store.UpdateRoute(ctx, r.ID, func(r *keygate.Route) error { r.Service = keygate.Ref{Name: "b"}; return nil }); err != nil {
						t.Error(err)
					}
				case 2:
					if err := store.DeleteRoute(ctx, r.ID); err != nil {
						t.Error(err)
					}
				}
				replays <- keygate.Change{Kind: keygate.RouteChanged, ID: r.ID}
			}
		})
	}
	writers.Wait()
	close(replays)
	close(done)
	background.Wait()
	wantSameRouting(t, p, store)
}

// blockingLists holds the first rebuild's first read until release is
// closed, and counts the rebuilds (one ListServices each).
type blockingLists struct {
	*listCounter
	rebuilds atomic.Int64
	release  chan struct{}
}

func (s *blockingLists) ListServices(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error) {
	if s.rebuilds.Add(1) == 1 {
		<-s.release
	}
	return s.listCounter.ListServices(ctx, p)
}

// TestReloadsShareOneRebuild asks for 20 rebuilds while one runs: they
// are served by a single one more, not 20.
func TestReloadsShareOneRebuild(t *testing.T) {
	_, counter := newStoreProxy(t)
	store := &blockingLists{listCounter: counter, release: make(chan struct{})}
	p := New(store, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer p.Close()
	var wg sync.WaitGroup
	for range 21 {
		wg.Go(func() { check(t, p.Reload(context.Background())) })
	}
	for p.requested.Load() < 21 {
		time.Sleep(time.Millisecond)
	}
	close(store.release)
	wg.Wait()
	if n := store.rebuilds.Load(); n != 2 {
		t.Errorf("21 reloads asked for at once rebuilt the table %d times, want 2 (the one running, and one for the others)", n)
	}
}

// wantSameRouting checks that p routes every request the store's routes
// can match as a proxy rebuilding its table from the store does.
func wantSameRouting(t *testing.T, p *Proxy, store Store) {
	t.Helper()
	fresh := New(store, nil, Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer fresh.Close()
	check(t, fresh.Reload(context.Background()))
	got, want := p.table.Load(), fresh.table.Load()
	for _, probe := range probes(slices.Collect(maps.Values(fresh.routes))) {
		g, gp := got.match(probe.host, probe.path, probe.method)
		w, wp := want.match(probe.host, probe.path, probe.method)
		if describe(g, gp) != describe(w, wp) {
			t.Errorf("%s %s%s: patched table matches %s, rebuilt one %s", probe.method, probe.host, probe.path, describe(g, gp), describe(w, wp))
		}
	}
	if len(p.routes) != len(fresh.routes) {
		t.Errorf("patched table holds %d routes, rebuilt one %d", len(p.routes), len(fresh.routes))
	}
	if !reflect.DeepEqual(got.plans, want.plans) {
		t.Errorf("patched table's plans %v, rebuilt one's %v", got.plans, want.plans)
	}
	if !reflect.DeepEqual(*p.anonymous.Load(), *fresh.anonymous.Load()) || p.unresolved.Load() != fresh.unresolved.Load() {
		t.Errorf("anonymous consumers %v (unresolved %v), rebuilt %v (unresolved %v)",
			*p.anonymous.Load(), p.unresolved.Load(), *fresh.anonymous.Load(), fresh.unresolved.Load())
	}
}

type probe struct{ host, path, method string }

// probes are requests at each route's hosts and paths, below them and
// beside them, with and without a method some routes name.
func probes(routes []*route) []probe {
	hosts := []string{"gw", "api.example.com", "other.example.com", "shop.example.com"}
	paths := []string{"/", "/nowhere"}
	for _, r := range routes {
		for _, h := range r.Hosts {
			hosts = append(hosts, h, "x"+h[1:])
		}
		for _, path := range r.Paths {
			paths = append(paths, path, path+"/below", path+"x")
		}
	}
	var ps []probe
	for _, h := range hosts {
		for _, path := range paths {
			for _, m := range []string{"GET", "POST"} {
				ps = append(ps, probe{h, path, m})
			}
		}
	}
	return ps
}

// describe is what a request matched: the route, the prefix, where it goes
// and as whom it proceeds without a credential.
func describe(r *route, prefix string) string {
	if r == nil {
		return "no route"
	}
	anonymous := "-"
	if r.anonymous != nil {
		anonymous = r.anonymous.Username
	}
	return fmt.Sprintf("%s at %q to %s as %s (unresolved %v)", r.Name, prefix, r.upstream.service.URL, anonymous, r.unresolved)
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
