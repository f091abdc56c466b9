package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// entity describes a kind of named entity (service, route, consumer) for the
// behaviour they all share: refs by id or name, conflicts, updates, deletes,
// pagination and the changes each write emits.
type entity[T any] struct {
	name      string // for messages: "service"
	nameField string // the unique field a ref may give instead of the id
	kind      keygate.ChangeKind
	create    func(e *env, tb testing.TB, name string) T // stores a new one named name
	build     func(e *env, tb testing.TB, name string) T // as create, without storing
	insert    func(s keygate.Store, ctx context.Context, v T) error
	find      func(s keygate.Store, ctx context.Context, ref string) (T, error)
	list      func(s keygate.Store, ctx context.Context, p keygate.Page) ([]T, string, error)
	update    func(s keygate.Store, ctx context.Context, ref string, fn func(T) error) (T, error)
	delete    func(s keygate.Store, ctx context.Context, ref string) error
	id        func(T) *string
	nameOf    func(T) string
	rename    func(T, string)
	modify    func(T) // changes some field other than the name
	times     func(T) *keygate.Timestamps
}

var services = entity[*keygate.Service]{
	name: "service", nameField: "name", kind: keygate.ServiceChanged,
	create: (*env).service,
	build:  func(_ *env, _ testing.TB, name string) *keygate.Service { return newService(name) },
	insert: keygate.Store.CreateService,
	find:   keygate.Store.FindService,
	list:   keygate.Store.ListServices,
	update: keygate.Store.UpdateService,
	delete: keygate.Store.DeleteService,
	id:     func(s *keygate.Service) *string { return &s.ID },
	nameOf: func(s *keygate.Service) string { return s.Name },
	rename: func(s *keygate.Service, name string) { s.Name = name },
	modify: func(s *keygate.Service) {
		s.URL, s.ReadTimeout, s.Tags = "https://elsewhere.internal/v2", 5000, []string{"moved"}
		s.Targets = []keygate.UpstreamTarget{{URL: s.URL, Weight: keygate.DefaultWeight}}
	},
	times: func(s *keygate.Service) *keygate.Timestamps { return &s.Timestamps },
}

var routes = entity[*keygate.Route]{
	name: "route", nameField: "name", kind: keygate.RouteChanged,
	create: func(e *env, tb testing.TB, name string) *keygate.Route { return e.route(tb, name, e.sharedService(tb)) },
	build: func(e *env, tb testing.TB, name string) *keygate.Route {
		return newRoute(name, keygate.Ref{ID: e.sharedService(tb).ID})
	},
	insert: keygate.Store.CreateRoute,
	find:   keygate.Store.FindRoute,
	list: func(s keygate.Store, ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
		return s.ListRoutes(ctx, keygate.RouteFilter{}, p)
	},
	update: keygate.Store.UpdateRoute,
	delete: keygate.Store.DeleteRoute,
	id:     func(r *keygate.Route) *string { return &r.ID },
	nameOf: func(r *keygate.Route) string { return r.Name },
	rename: func(r *keygate.Route, name string) { r.Name = name },
	modify: func(r *keygate.Route) {
		r.Paths, r.StripPath, r.PreserveHost = []string{"/v2"}, false, true
		r.KeyAuth = &keygate.KeyAuthConfig{KeyNames: []string{"x-api-key"}, KeyInHeader: true}
		r.HMACAuth = &keygate.HMACAuthConfig{ClockSkew: 30, EnforceHeaders: []string{"date"},
			Algorithms: []string{keygate.HMACSHA512}, ValidateRequestBody: true, MaxBodySize: 4096, Realm: "v2"}
	},
	times: func(r *keygate.Route) *keygate.Timestamps { return &r.Timestamps },
}

var consumers = entity[*keygate.Consumer]{
	name: "consumer", nameField: "username", kind: keygate.ConsumerChanged,
	create: (*env).consumer,
	build:  func(_ *env, _ testing.TB, name string) *keygate.Consumer { return newConsumer(name) },
	insert: keygate.Store.CreateConsumer,
	find:   keygate.Store.FindConsumer,
	list:   keygate.Store.ListConsumers,
	update: keygate.Store.UpdateConsumer,
	delete: keygate.Store.DeleteConsumer,
	id:     func(c *keygate.Consumer) *string { return &c.ID },
	nameOf: func(c *keygate.Consumer) string { return c.Username },
	rename: func(c *keygate.Consumer, name string) { c.Username = name },
	modify: func(c *keygate.Consumer) { c.CustomID, c.Groups = "crm-42", []string{"gold", "partners"} },
	times:  func(c *keygate.Consumer) *keygate.Timestamps { return &c.Timestamps },
}

func testEntity[T any](t *testing.T, s suite, en entity[T]) {
	change := func(op keygate.ChangeOp, v T) keygate.Change {
		return keygate.Change{Kind: en.kind, Op: op, ID: *en.id(v)}
	}

	t.Run("create assigns an id and timestamps from the clock", func(t *testing.T) {
		e := s.env(t)
		v := en.build(e, t, "alpha")
		check(t, en.insert(e.store, e.ctx, v))
		if id := *en.id(v); !keygate.LooksLikeID(id) {
			t.Errorf("id %q is not an id", id)
		}
		ts := en.times(v)
		if !ts.CreatedAt.Equal(e.now()) || !ts.UpdatedAt.Equal(e.now()) {
			t.Errorf("created_at %v, updated_at %v, want both %v", ts.CreatedAt, ts.UpdatedAt, e.now())
		}
		if ts.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at is in %v, want UTC", ts.CreatedAt.Location())
		}
		e.wantChanges(t, change(keygate.Created, v))
	})

	t.Run("find by id or "+en.nameField+" returns what create stored", func(t *testing.T) {
		e := s.env(t)
		v := en.create(e, t, "alpha")
		en.create(e, t, "beta")
		for _, ref := range []string{*en.id(v), "alpha"} {
			got, err := en.find(e.store, e.ctx, ref)
			check(t, err)
			wantEqual(t, got, v)
		}
	})

	t.Run("a missing one is NOT_FOUND", func(t *testing.T) {
		e := s.env(t)
		en.create(e, t, "alpha")
		for _, ref := range []string{"nobody", missingID} {
			_, err := en.find(e.store, e.ctx, ref)
			wantError(t, err, keygate.ENOTFOUND, "")
			_, err = en.update(e.store, e.ctx, ref, func(T) error { return nil })
			wantError(t, err, keygate.ENOTFOUND, "")
			wantError(t, en.delete(e.store, e.ctx, ref), keygate.ENOTFOUND, "")
		}
		e.wantChanges(t)
	})

	t.Run("a taken "+en.nameField+" is a CONFLICT", func(t *testing.T) {
		e := s.env(t)
		first := en.create(e, t, "alpha")
		wantError(t, en.insert(e.store, e.ctx, en.build(e, t, "alpha")), keygate.ECONFLICT, en.nameField)
		got, err := en.find(e.store, e.ctx, "alpha")
		check(t, err)
		wantEqual(t, got, first)
		if ids := walk(t, pages(e, en), 100, en.idOf); len(ids) != 1 {
			t.Errorf("%d %ss stored, want 1", len(ids), en.name)
		}
		e.wantChanges(t)
	})

	t.Run("update saves the change, keeps id and created_at and sets updated_at", func(t *testing.T) {
		e := s.env(t)
		v := en.create(e, t, "alpha")
		id, created := *en.id(v), en.times(v).CreatedAt
		want := en.build(e, t, "alpha")
		now := e.clock.Advance(time.Hour + 1234*time.Nanosecond)
		updated, err := en.update(e.store, e.ctx, "alpha", func(x T) error {
			en.rename(x, "gamma")
			en.modify(x)
			*en.id(x) = missingID
			en.times(x).CreatedAt = now.Add(time.Hour)
			en.times(x).UpdatedAt = now.Add(time.Hour)
			return nil
		})
		check(t, err)
		en.rename(want, "gamma")
		en.modify(want)
		*en.id(want) = id
		*en.times(want) = keygate.Timestamps{CreatedAt: created, UpdatedAt: now.UTC().Truncate(time.Microsecond)}
		wantEqual(t, updated, want)
		got, err := en.find(e.store, e.ctx, id)
		check(t, err)
		wantEqual(t, got, want)
		_, err = en.find(e.store, e.ctx, "alpha")
		wantError(t, err, keygate.ENOTFOUND, "")
		e.wantChanges(t, keygate.Change{Kind: en.kind, Op: keygate.Updated, ID: id})
	})

	t.Run("an update that fails writes nothing", func(t *testing.T) {
		e := s.env(t)
		v := en.create(e, t, "alpha")
		en.create(e, t, "beta")
		e.clock.Advance(time.Minute)
		errStop := errors.New("stop")
		tests := []struct {
			name    string
			fn      func(T) error
			wantErr func(testing.TB, error)
		}{
			{"the function's error is returned as is", func(x T) error { en.modify(x); return errStop },
				func(tb testing.TB, err error) {
					if err != errStop {
						tb.Errorf("error = %v, want the update function's own", err)
					}
				}},
			{"renaming to a taken " + en.nameField + " is a CONFLICT", func(x T) error { en.modify(x); en.rename(x, "beta"); return nil },
				func(tb testing.TB, err error) { wantError(tb, err, keygate.ECONFLICT, en.nameField) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := en.update(e.store, e.ctx, "alpha", tt.fn)
				tt.wantErr(t, err)
				if !reflect.ValueOf(&got).Elem().IsZero() {
					t.Errorf("update returned %v with an error", got)
				}
				stored, err := en.find(e.store, e.ctx, *en.id(v))
				check(t, err)
				wantEqual(t, stored, v)
				e.wantChanges(t)
			})
		}
	})

	t.Run("delete by id or "+en.nameField, func(t *testing.T) {
		e := s.env(t)
		for _, byID := range []bool{true, false} {
			v := en.create(e, t, fmt.Sprintf("doomed-%v", byID))
			ref := en.nameOf(v)
			if byID {
				ref = *en.id(v)
			}
			check(t, en.delete(e.store, e.ctx, ref))
			e.wantChanges(t, change(keygate.Deleted, v))
			_, err := en.find(e.store, e.ctx, *en.id(v))
			wantError(t, err, keygate.ENOTFOUND, "")
			wantError(t, en.delete(e.store, e.ctx, ref), keygate.ENOTFOUND, "")
			e.wantChanges(t)
		}
	})

	t.Run("list walks every one once, in creation order", func(t *testing.T) {
		e := s.env(t)
		var want []string
		for i := range 10 {
			e.clock.Advance(time.Second)
			want = append(want, *en.id(en.create(e, t, fmt.Sprintf("item-%02d", 9-i)))) // names sort backwards
		}
		for _, limit := range []int{1, 2, 3, 7, 9, 10, 11, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				if got := walk(t, pages(e, en), limit, en.idOf); !slices.Equal(got, want) {
					t.Errorf("ids\n got %v\nwant %v", got, want)
				}
			})
		}
	})
}

// pages lists en from e's store, for walk.
func pages[T any](e *env, en entity[T]) func(keygate.Page) ([]T, string, error) {
	return func(p keygate.Page) ([]T, string, error) { return en.list(e.store, e.ctx, p) }
}

func (en entity[T]) idOf(v T) string { return *en.id(v) }
