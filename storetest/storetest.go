// Package storetest is the conformance suite for keygate.Store: the
// behaviour every store (SQLite, PostgreSQL) must have, run by each
// store's own tests against a real database.
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Harness is what a store under test is opened with.
type Harness struct {
	Now      func() time.Time
	OnChange keygate.ChangeFunc
}

// Run runs the suite. open must return a fresh, empty store that uses h's
// clock and change function; Run closes it when the test ends.
func Run(t *testing.T, open func(tb testing.TB, h Harness) keygate.Store) {
	s := suite{open}
	tests := []struct {
		name string
		run  func(*testing.T, suite)
	}{
		{"Services", func(t *testing.T, s suite) { testEntity(t, s, services) }},
		{"ServiceInUse", testServiceInUse},
		{"ServiceTargets", testServiceTargets},
		{"Routes", func(t *testing.T, s suite) { testEntity(t, s, routes) }},
		{"RouteService", testRouteService},
		{"RouteConfig", testRouteConfig},
		{"RouteFilter", testRouteFilter},
		{"RouteHMACAuth", testRouteHMACAuth},
		{"RouteOAuth2", testRouteOAuth2},
		{"RoutePermissions", testRoutePermissions},
		{"Permissions", testPermissions},
		{"Consumers", func(t *testing.T, s suite) { testEntity(t, s, consumers) }},
		{"ConsumerIdentity", testConsumerIdentity},
		{"ConsumerDeleteCascades", testConsumerDeleteCascades},
		{"Keys", testKeys},
		{"KeyErrors", testKeyErrors},
		{"KeyRevoke", testKeyRevoke},
		{"KeyRotate", testKeyRotate},
		{"KeyUpdate", testKeyUpdate},
		{"KeyUpdateRefused", testKeyUpdateRefused},
		{"KeyState", testKeyState},
		{"KeyCredits", testKeyCredits},
		{"KeyCreditsConcurrent", testKeyCreditsConcurrent},
		{"KeyLineage", testKeyLineage},
		{"KeyLifecycleJobs", testKeyLifecycleJobs},
		{"ConsumerRotationPolicy", testConsumerRotationPolicy},
		{"RotationSchedule", testRotationSchedule},
		{"RotationPickup", testRotationPickup},
		{"RotationConcurrent", testRotationConcurrent},
		{"AuditTrail", testAuditTrail},
		{"RecordAudit", testRecordAudit},
		{"AuditWithoutChanges", testAuditWithoutChanges},
		{"AuditChain", testAuditChain},
		{"AuditChainConcurrent", testAuditChainConcurrent},
		{"AuditRecord", testAuditRecord},
		{"KeyDelete", testKeyDelete},
		{"KeyList", testKeyList},
		{"KeyImported", testKeyImported},
		{"KeyListImported", testKeyListImported},
		{"KeyIdentifiers", testKeyIdentifiers},
		{"RecentlyUsedKeys", testRecentlyUsedKeys},
		{"LookupKeys", testLookupKeys},
		{"HMACCredentials", testHMACCredentials},
		{"HMACCredentialErrors", testHMACCredentialErrors},
		{"HMACCredentialRevoke", testHMACCredentialRevoke},
		{"HMACCredentialDelete", testHMACCredentialDelete},
		{"HMACCredentialList", testHMACCredentialList},
		{"HMACCredentialWeak", testHMACCredentialWeak},
		{"HMACCredentialConsumerCascade", testHMACCredentialConsumerCascade},
		{"HMACCredentialRewrap", testHMACCredentialRewrap},
		{"HMACCredentialLifecycleJobs", testHMACCredentialLifecycleJobs},
		{"HMACCredentialLifecycleConcurrent", testHMACCredentialLifecycleConcurrent},
		{"OAuthClients", testOAuthClients},
		{"OAuthClientErrors", testOAuthClientErrors},
		{"OAuthClientList", testOAuthClientList},
		{"OAuthClientRotate", testOAuthClientRotate},
		{"OAuthClientRevoke", testOAuthClientRevoke},
		{"OAuthClientDelete", testOAuthClientDelete},
		{"OAuthClientConsumerCascade", testOAuthClientConsumerCascade},
		{"RevokedAccessTokens", testRevokedAccessTokens},
		{"RevokedAccessTokenErrors", testRevokedAccessTokenErrors},
		{"PayloadSessions", testPayloadSessions},
		{"PayloadSessionErrors", testPayloadSessionErrors},
		{"PayloadSessionExpiry", testPayloadSessionExpiry},
		{"PayloadSessionConsumerCascade", testPayloadSessionConsumerCascade},
		{"RoutePayloadEncryption", testRoutePayloadEncryption},
		{"Webhooks", testWebhooks},
		{"WebhookErrors", testWebhookErrors},
		{"WebhookUpdate", testWebhookUpdate},
		{"WebhookFanOut", testWebhookFanOut},
		{"WebhookClaim", testWebhookClaim},
		{"WebhookClaimConcurrent", testWebhookClaimConcurrent},
		{"WebhookClaimLimit", testWebhookClaimLimit},
		{"WebhookRecordAttempt", testWebhookRecordAttempt},
		{"WebhookDeliveryList", testWebhookDeliveryList},
		{"WebhookDelete", testWebhookDelete},
		{"WebhookConsumerCascade", testWebhookConsumerCascade},
		{"WebhookPrune", testWebhookPrune},
		{"WebhookRewrap", testWebhookRewrap},
		{"AdminTokens", testAdminTokens},
		{"PutAdminToken", testPutAdminToken},
		{"AdminTokenListDelete", testAdminTokenListDelete},
		{"AdminTokenServices", testAdminTokenServices},
		{"KeyringVersions", testKeyringVersions},
		{"AddKeyringVersionRace", testAddKeyringVersionRace},
		{"ResealKeyring", testResealKeyring},
		{"DeleteKeyringVersion", testDeleteKeyringVersion},
		{"DataKeyCounts", testDataKeyCounts},
		{"Secrets", testSecrets},
		{"SealedBefore", testSealedBefore},
		{"RewrapDataKeys", testRewrapDataKeys},
		{"ConcurrentRewrap", testConcurrentRewrap},
		{"AccessRequests", testAccessRequests},
		{"AccessRequestList", testAccessRequestList},
		{"AccessApprove", testAccessApprove},
		{"AccessDecideRace", testAccessDecideRace},
		{"AccessPickUp", testAccessPickUp},
		{"AccessRewrap", testAccessRewrap},
		{"AccessConsumerCascade", testAccessConsumerCascade},
		{"AccessRules", testAccessRules},
		{"AccessApprovePlan", testAccessApprovePlan},
		{"Plans", func(t *testing.T, s suite) { testEntity(t, s, plans) }},
		{"PlanValidation", testPlanValidation},
		{"PlanHideClientHeaders", testPlanHideClientHeaders},
		{"PlanRoutes", testPlanRoutes},
		{"PlanInUse", testPlanInUse},
		{"PlanDeleteEndedKeys", testPlanDeleteEndedKeys},
		{"ConsumerPlan", testConsumerPlan},
		{"KeyPlan", testKeyPlan},
		{"PlanAudit", testPlanAudit},
		{"UsageAdds", testUsageAdds},
		{"UsageInvalid", testUsageInvalid},
		{"UsageQuery", testUsageQuery},
		{"UsageGranularity", testUsageGranularity},
		{"UsageSums", testUsageSums},
		{"UsageLimit", testUsageLimit},
		{"UsagePrune", testUsagePrune},
		{"Verifications", testVerifications},
		{"VerificationsFromUsage", testVerificationsFromUsage},
		{"Leases", testLeases},
		{"LeaseConcurrent", testLeaseConcurrent},
		{"ConsoleSessions", testConsoleSessions},
		{"Nodes", testNodes},
		{"PageClamping", testPageClamping},
		{"EmptyLists", testEmptyLists},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ChangesSeeCommittedState", testChangesSeeCommittedState},
		{"ChangeLogComplete", testChangeLogComplete},
		{"ChangeLogConcurrent", testChangeLogConcurrent},
		{"ChangeLogPrune", testChangeLogPrune},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, s) })
	}
}

type suite struct {
	open func(tb testing.TB, h Harness) keygate.Store
}

// start is the clock's first reading: not UTC and finer than a microsecond,
// so that tests see stores normalize times.
var start = time.Date(2031, 3, 4, 5, 6, 7, 891_011_121, time.FixedZone("UTC+2", 2*60*60))

// env is one fresh store with its clock and the changes it has emitted.
type env struct {
	ctx     context.Context
	store   keygate.Store
	clock   *Clock
	changes *recorder
}

func (s suite) env(tb testing.TB) *env {
	tb.Helper()
	e := &env{ctx: tb.Context(), clock: NewClock(start), changes: &recorder{}}
	e.store = s.open(tb, Harness{Now: e.clock.Now, OnChange: e.changes.record})
	tb.Cleanup(func() {
		if err := e.store.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return e
}

// now is the clock's current time as a store keeps it.
func (e *env) now() time.Time { return e.clock.Now().UTC().Truncate(time.Microsecond) }

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until it is set or advanced.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// recorder collects the changes a store emits.
type recorder struct {
	mu      sync.Mutex
	changes []keygate.Change
	// hook, when set before the first write, is called with each change.
	hook func(keygate.Change)
}

func (r *recorder) record(c keygate.Change) {
	if r.hook != nil {
		r.hook(c)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

// take returns the changes recorded since the last take.
func (r *recorder) take() []keygate.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.changes
	r.changes = nil
	return c
}

// wantChanges checks that exactly want was emitted since the last call, in any order.
func (e *env) wantChanges(tb testing.TB, want ...keygate.Change) {
	tb.Helper()
	got := e.changes.take()
	order := func(a, b keygate.Change) int {
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		if a.Op != b.Op {
			return int(a.Op) - int(b.Op)
		}
		return strings.Compare(a.ID, b.ID)
	}
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if !slices.Equal(got, want) {
		tb.Errorf("changes:\n got %+v\nwant %+v", got, want)
	}
}

// check fails the test now on an unexpected error.
func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// wantError checks that err has code and that its message names field first
// (the convention for errors about one field); field may be "".
func wantError(tb testing.TB, err error, code, field string) {
	tb.Helper()
	if got := keygate.ErrorCode(err); got != code {
		tb.Fatalf("error = %v, want code %s", err, code)
	}
	if msg := keygate.ErrorMessage(err); field != "" && !strings.HasPrefix(msg, field+": ") {
		tb.Errorf("error message %q does not start with %q", msg, field+": ")
	}
}

// wantEqual compares two entities field by field, times with time.Equal.
func wantEqual(tb testing.TB, got, want any) {
	tb.Helper()
	if d := diff(reflect.ValueOf(got), reflect.ValueOf(want), ""); d != "" {
		tb.Errorf("%T differs:%s", got, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func diff(g, w reflect.Value, path string) string {
	if g.Kind() == reflect.Pointer && g.Type().Elem().Kind() == reflect.Struct && !g.IsNil() && !w.IsNil() {
		g, w = g.Elem(), w.Elem()
	}
	switch {
	case g.Type() == timeType:
		if !g.Interface().(time.Time).Equal(w.Interface().(time.Time)) {
			return fmt.Sprintf("\n  %s: got %v, want %v", path, g, w)
		}
		return ""
	case g.Kind() == reflect.Struct:
		var b strings.Builder
		for i := range g.NumField() {
			f := g.Type().Field(i)
			name := path + "." + f.Name
			if f.Anonymous {
				name = path
			}
			b.WriteString(diff(g.Field(i), w.Field(i), name))
		}
		return b.String()
	case !reflect.DeepEqual(g.Interface(), w.Interface()):
		return fmt.Sprintf("\n  %s: got %#v, want %#v", path, g, w)
	}
	return ""
}

// missingID has the shape of an id but names nothing.
const missingID = "00000000-0000-7000-8000-000000000000"

func newService(name string) *keygate.Service {
	s := keygate.NewService()
	s.Name, s.URL, s.Tags = name, "http://"+name+".internal:8080/api", []string{"team-a", "tier-1"}
	return s
}

func newRoute(name string, service keygate.Ref) *keygate.Route {
	r := keygate.NewRoute()
	r.Name, r.Service = name, service
	r.Hosts, r.Paths, r.Methods = []string{"api.example.com"}, []string{"/" + name}, []string{"GET", "POST"}
	r.Tags = []string{"public"}
	return r
}

func newConsumer(username string) *keygate.Consumer {
	c := keygate.NewConsumer()
	c.Username, c.Groups, c.Tags = username, []string{"partners"}, []string{"acme"}
	return c
}

func newKey(consumerID, identifier string) *keygate.APIKey {
	expires := start.Add(90 * 24 * time.Hour)
	return &keygate.APIKey{
		Consumer:        keygate.Ref{ID: consumerID},
		Name:            "ci",
		Prefix:          "kg_test",
		Start:           "kg_test_" + identifier[:min(4, len(identifier))],
		Identifier:      identifier,
		SecretHash:      []byte{0x00, 0xff, 0x10, 0x80, 0x00, 'h', 'a', 's', 'h', 0x00},
		Status:          keygate.KeyActive,
		AllowedServices: []string{},
		AllowedRoutes:   []string{},
		AllowedCIDRs:    []string{"10.0.0.0/8", "192.0.2.1"},
		Tags:            []string{"ci"},
		ExpiresAt:       &expires,
	}
}

func (e *env) service(tb testing.TB, name string) *keygate.Service {
	tb.Helper()
	s := newService(name)
	check(tb, e.store.CreateService(e.ctx, s))
	e.changes.take()
	return s
}

// sharedService returns the service named "shared", creating it the first time.
func (e *env) sharedService(tb testing.TB) *keygate.Service {
	tb.Helper()
	if s, err := e.store.FindService(e.ctx, "shared"); err == nil {
		return s
	}
	return e.service(tb, "shared")
}

func (e *env) route(tb testing.TB, name string, service *keygate.Service) *keygate.Route {
	tb.Helper()
	r := newRoute(name, keygate.Ref{ID: service.ID})
	check(tb, e.store.CreateRoute(e.ctx, r))
	e.changes.take()
	return r
}

func (e *env) consumer(tb testing.TB, username string) *keygate.Consumer {
	tb.Helper()
	c := newConsumer(username)
	check(tb, e.store.CreateConsumer(e.ctx, c))
	e.changes.take()
	return c
}

func (e *env) key(tb testing.TB, consumer *keygate.Consumer, identifier string) *keygate.APIKey {
	tb.Helper()
	k := newKey(consumer.ID, identifier)
	check(tb, e.store.CreateKey(e.ctx, k))
	e.changes.take()
	return k
}

// walk lists every page of size limit and returns the ids in the order seen.
func walk[T any](tb testing.TB, list func(keygate.Page) ([]T, string, error), limit int, id func(T) string) []string {
	tb.Helper()
	var ids []string
	p := keygate.Page{Limit: limit}
	for range 10_000 {
		items, next, err := list(p)
		check(tb, err)
		if len(items) > limit {
			tb.Fatalf("page has %d items, limit %d", len(items), limit)
		}
		for _, it := range items {
			ids = append(ids, id(it))
		}
		if next == "" {
			return ids
		}
		if len(items) == 0 {
			tb.Fatalf("empty page with next cursor %q", next)
		}
		p.After = next
	}
	tb.Fatal("pagination does not end")
	return nil
}
