package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/meter"
	"github.com/keygate/keygate/permquery"
)

// maxRefs bounds the services or routes a key can be restricted to, as the
// domain bounds its other lists.
const maxRefs = 64

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req keygate.KeyImport
	if err := decodeWithExpiry(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.Import:
		return s.importKey(w, r, req)
	case req.Key != "":
		return keygate.Errorf(keygate.EINVALID, `key: set only to import an existing key, with "import": true; keygate generates the keys it issues`)
	}
	k, err := s.newKey(ctx, r.PathValue("consumer"), req.KeyRequest)
	if err != nil {
		return err
	}
	key, err := s.mintKey(k)
	if err != nil {
		return err
	}
	if err := s.Store.CreateKey(ctx, k); err != nil {
		return refInBody(err) // a permission or role the store could not find is the body's
	}
	s.publish(ctx, keygate.EventKeyCreated, k.Consumer.ID, map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start, "expires_at": k.ExpiresAt})
	return reply(w, http.StatusCreated, keygate.IssuedKey{APIKey: *k, Key: key.Reveal()})
}

// newKey is the record of a new key of consumer as req asks for it, its
// references resolved; the caller gives it its key material.
func (s *Server) newKey(ctx context.Context, consumer string, req keygate.KeyRequest) (*keygate.APIKey, error) {
	c, err := s.Store.FindConsumer(ctx, consumer)
	if err != nil {
		return nil, err
	}
	k := &keygate.APIKey{
		Consumer:     keygate.Ref{ID: c.ID},
		Name:         req.Name,
		Status:       keygate.KeyActive,
		AllowedCIDRs: orEmpty(req.AllowedCIDRs),
		Tags:         orEmpty(req.Tags),
		Permissions:  orEmpty(req.Permissions),
		Roles:        orEmpty(req.Roles),
		Enabled:      req.Enabled,
		Meta:         req.Meta,
		Credits:      req.Credits,
	}
	if req.Credits != nil && req.Credits.RefilledAt != nil {
		return nil, keygate.Errorf(keygate.EINVALID, "credits.refilled_at: cannot be set; keygate sets it")
	}
	if err := k.ValidateRestrictions(); err != nil {
		return nil, err
	}
	if k.ExpiresAt, err = s.expiry(req); err != nil {
		return nil, err
	}
	// The key's own plan, overriding its consumer's; none: the consumer's.
	if k.Plan, err = s.resolvePlan(ctx, req.Plan); err != nil {
		return nil, err
	}
	if k.AllowedServices, err = resolveAll(ctx, "allowed_services", "service", req.AllowedServices, s.serviceID); err != nil {
		return nil, err
	}
	if k.AllowedRoutes, err = resolveAll(ctx, "allowed_routes", "route", req.AllowedRoutes, s.routeID); err != nil {
		return nil, err
	}
	return k, nil
}

// importKey stores an existing key (one of Kong's) so that it keeps
// working as it is: looked up by an identifier derived from it, stored as
// its hash only, marked imported. The answer never holds the key: its
// holder has it already.
func (s *Server) importKey(w http.ResponseWriter, r *http.Request, req keygate.KeyImport) error {
	ctx := r.Context()
	if req.Key == "" {
		return keygate.Errorf(keygate.EINVALID, "key: required to import a key")
	}
	if err := s.Keys.CheckImported(req.Key); err != nil {
		return importError(err)
	}
	k, err := s.newKey(ctx, r.PathValue("consumer"), req.KeyRequest)
	if err != nil {
		return err
	}
	var id [apikey.IdentifierLen]byte
	s.Hasher.ImportedIdentifier(req.Key, &id)
	hash := s.Hasher.HashImported(&id, req.Key)
	k.Identifier, k.Start, k.SecretHash, k.Imported = string(id[:]), apikey.ImportedStart(string(id[:])), hash[:], true
	err = s.Store.CreateKey(ctx, k)
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		// The identifier is the key's: the same key, imported before (for
		// this consumer or another, as a key names one consumer only).
		return keygate.Errorf(keygate.ECONFLICT, "key: this key was imported already")
	}
	if err != nil {
		return err
	}
	s.publish(ctx, keygate.EventKeyCreated, k.Consumer.ID, map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start, "expires_at": k.ExpiresAt, "imported": true})
	return reply(w, http.StatusCreated, k)
}

// importError names the rule an imported key broke, never the key.
func importError(err error) error {
	switch err {
	case apikey.ErrImportedLength:
		return keygate.Errorf(keygate.EINVALID, "key: an imported key must be %d to %d characters", apikey.MinImportedLen, apikey.MaxImportedLen)
	case apikey.ErrImportedChars:
		return keygate.Errorf(keygate.EINVALID, "key: an imported key may contain only printable ASCII characters, without spaces or control characters")
	case apikey.ErrImportedFormat:
		return keygate.Errorf(keygate.EINVALID, "key: this key is in keygate's own key format; import is for keys from elsewhere (such as Kong's), create a key without \"key\" to issue one")
	}
	return err
}

// keyFilter reads ?imported=true|false: only the imported keys (which admins
// should rotate to keygate keys), or only the others.
func keyFilter(r *http.Request) (keygate.KeyFilter, error) {
	var f keygate.KeyFilter
	if q := r.URL.Query(); q.Has("imported") {
		imported, err := strconv.ParseBool(q.Get("imported"))
		if err != nil {
			return f, keygate.Errorf(keygate.EINVALID, "imported: must be true or false")
		}
		f.Imported = &imported
	}
	return f, nil
}

func (s *Server) allKeys(w http.ResponseWriter, r *http.Request) error {
	f, err := keyFilter(r)
	if err != nil {
		return err
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.APIKey, string, error) {
		return s.Store.ListKeys(ctx, f, p)
	})
}

// mintKey generates a new key for k and sets k's identifier, prefix, start
// and secret hash from it: what issuing a key (createKey, an approved access
// request) needs besides k's consumer and restrictions. The caller stores k
// and shows the returned key once.
func (s *Server) mintKey(k *keygate.APIKey) (apikey.Key, error) {
	key, err := s.Keys.Generate()
	if err != nil {
		return apikey.Key{}, fmt.Errorf("generating key: %w", err)
	}
	hash := s.Hasher.Hash(key)
	k.Identifier, k.Prefix, k.Start, k.SecretHash = key.Identifier(), key.Prefix(), key.Start(), hash[:]
	return key, nil
}

// expiry returns the expiry a key request asks for, nil for none.
func (s *Server) expiry(req keygate.KeyRequest) (*time.Time, error) {
	return keygate.Expiry(s.now(), req.TTL, req.ExpiresAt)
}

func (s *Server) consumerKeys(w http.ResponseWriter, r *http.Request) error {
	f, err := keyFilter(r)
	if err != nil {
		return err
	}
	c, err := s.Store.FindConsumer(r.Context(), r.PathValue("consumer"))
	if err != nil {
		return err
	}
	f.ConsumerID = c.ID
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.APIKey, string, error) {
		return s.Store.ListKeys(ctx, f, p)
	})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.Store.RevokeKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	actor, reason := keygate.Audit(r.Context())
	s.publish(r.Context(), keygate.EventKeyRevoked, k.Consumer.ID, map[string]any{"key_id": k.ID, "start": k.Start, "by": actor, "reason": reason})
	return reply(w, http.StatusOK, k)
}

// keyPatchFields are what PATCH /v1/keys/{id} may set. A key's other fields
// are what it was issued with: a key with other restrictions or another
// lifetime is a new key (rotate it).
var keyPatchFields = []string{"name", "tags", "plan", "permissions", "roles", "enabled", "meta", "credits"}

// keyFields are the JSON names of APIKey's fields, so that a patch that
// names one it may not set is told so, rather than that it is unknown.
var keyFields = func() map[string]bool {
	fields := map[string]bool{}
	t := reflect.TypeFor[keygate.APIKey]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			fields[name] = true
		}
	}
	return fields
}()

// updateKey changes a key's name, tags and plan (null: none, the
// consumer's). The store applies the patch in its transaction and resolves
// the plan there; it refuses any other change, as this does first, with a
// message naming the field.
func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	body, fields, err := readBody(w, r)
	if err != nil {
		return err
	}
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		switch {
		case slices.ContainsFunc(keyPatchFields, func(p string) bool { return strings.EqualFold(p, f) }):
		case keyFields[strings.ToLower(f)]:
			return keygate.Errorf(keygate.EINVALID, "%s: cannot be changed; a key's name, tags, plan, permissions, roles, enabled, meta and credits can (rotate the key for other restrictions or another lifetime)",
				strings.ToLower(f))
		default:
			return keygate.Errorf(keygate.EINVALID, "unknown field %q", f)
		}
	}
	var patch struct {
		Name    *string          `json:"name"`
		Tags    []string         `json:"tags"`
		Plan    *keygate.Ref     `json:"plan"`
		Enabled *bool            `json:"enabled"`
		Meta    json.RawMessage  `json:"meta"`
		Credits *keygate.Credits `json:"credits"`
		// Replaced as a whole; null: none.
		Permissions []string `json:"permissions"`
		Roles       []string `json:"roles"`
	}
	if err := decode(body, &patch); err != nil {
		return err
	}
	if hasField(fields, "enabled") && patch.Enabled == nil {
		return keygate.Errorf(keygate.EINVALID, "enabled: must be true or false")
	}
	if patch.Credits != nil && patch.Credits.RefilledAt != nil {
		return keygate.Errorf(keygate.EINVALID, "credits.refilled_at: cannot be set; keygate sets it")
	}
	found, wasEnabled := false, true
	k, err := s.Store.UpdateKey(r.Context(), r.PathValue("id"), func(k *keygate.APIKey) error {
		found, wasEnabled = true, keygate.IsEnabled(k.Enabled)
		if hasField(fields, "enabled") {
			k.Enabled = patch.Enabled
		}
		if hasField(fields, "meta") { // null: none
			k.Meta = patch.Meta
			if string(patch.Meta) == "null" {
				k.Meta = nil
			}
		}
		if hasField(fields, "credits") { // null: none, unlimited
			k.Credits = patch.Credits
		}
		if hasField(fields, "name") { // null: no name
			k.Name = ""
			if patch.Name != nil {
				k.Name = *patch.Name
			}
		}
		if hasField(fields, "tags") { // null: none
			k.Tags = orEmpty(patch.Tags)
		}
		if hasField(fields, "plan") { // null: none, the consumer's
			k.Plan = patch.Plan
		}
		if hasField(fields, "permissions") {
			k.Permissions = orEmpty(patch.Permissions)
		}
		if hasField(fields, "roles") {
			k.Roles = orEmpty(patch.Roles)
		}
		return nil
	})
	if err != nil && found {
		return refInBody(err) // a plan the store could not find is the body's
	}
	if err != nil {
		return err
	}
	if enabled := keygate.IsEnabled(k.Enabled); enabled != wasEnabled {
		typ := keygate.EventKeyDisabled
		if enabled {
			typ = keygate.EventKeyEnabled
		}
		s.publish(r.Context(), typ, k.Consumer.ID, map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start})
	}
	return reply(w, http.StatusOK, k)
}

// publish tells webhooks about a change that has been stored; a failure to
// queue the event is logged, never undoes or fails the change.
func (s *Server) publish(ctx context.Context, typ, consumerID string, data map[string]any) {
	if s.Events == nil {
		return
	}
	if err := s.Events.Publish(ctx, keygate.Event{Type: typ, CreatedAt: s.now(), ConsumerID: consumerID, Data: data}); err != nil {
		s.logger().Error("event not queued", "type", typ, "error", err)
	}
}

// rotateKey issues a key's successor; the old key keeps working until the
// grace period ends, which the response states.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var req keygate.RotateKeyRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			return err
		}
	}
	rot, err := s.Rotator.Rotate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, rot)
}

// verifyKey answers, for services that check keys themselves, whether a key
// may be used. A bad key is a 200 with a code; only a failure to check is an
// error.
func (s *Server) verifyKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req keygate.VerifyRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Key == "" {
		return keygate.Errorf(keygate.EINVALID, "key: required")
	}
	var t keygate.Target
	var err error
	if tok := TokenFrom(ctx); tok != nil && len(tok.Services) > 0 {
		if t, err = s.verifierTarget(ctx, tok, req); err != nil {
			return err
		}
	} else {
		if req.Service != "" {
			if t.ServiceID, err = resolve(ctx, "service", "service", req.Service, s.serviceID); err != nil {
				return err
			}
		}
		if req.Route != "" {
			if t.RouteID, err = resolve(ctx, "route", "route", req.Route, s.routeID); err != nil {
				return err
			}
		}
	}
	if req.IP != "" {
		ip, err := netip.ParseAddr(req.IP)
		if err != nil {
			return keygate.Errorf(keygate.EINVALID, "ip: not an IP address")
		}
		t.IP = ip.Unmap() // so an IPv4-mapped address matches IPv4 CIDRs
	}
	if q, err := s.verifyPermissions(ctx, req, t.RouteID); err != nil {
		return err
	} else if q != nil {
		t.Permissions = q
	}

	if req.Cost != nil && (*req.Cost < 0 || *req.Cost > keygate.MaxPlanCost) {
		return keygate.Errorf(keygate.EINVALID, "cost: must be between 0 and %d", keygate.MaxPlanCost)
	}

	for i, n := range req.RateLimits {
		if n.Name == "" {
			return keygate.Errorf(keygate.EINVALID, "ratelimits[%d].name: required", i)
		}
		if n.Cost != nil && (*n.Cost < 0 || *n.Cost > keygate.MaxNamedCost) {
			return keygate.Errorf(keygate.EINVALID, "ratelimits[%d].cost: must be between 0 and %d", i, keygate.MaxNamedCost)
		}
	}

	res, err := s.Verifier.VerifyKey(ctx, req.Key, t)
	if err != nil {
		return keygate.Unavailable(err, "key verification unavailable, try again later")
	}
	resp := keygate.VerifyResponse{Code: res.Code}
	if res.Valid() {
		if err := s.verifyLimits(ctx, &res, t, req.Cost, req.RateLimits, &resp); err != nil {
			return err
		}
	}
	resp.Valid = resp.Code == keygate.CodeValid
	res.Code = resp.Code
	s.countVerify(t, res)
	if k := res.Key; k != nil {
		resp.KeyID, resp.Status = k.ID, k.Status
		if t := k.ExpiresAt; !t.IsZero() {
			resp.ExpiresAt = &t
		}
		if r := k.Restrictions; r != nil {
			resp.AllowedServices, resp.AllowedRoutes, resp.AllowedCIDRs = r.Services, r.Routes, r.CIDRs
		}
		resp.Permissions, resp.Roles = k.HeldPermissions(), k.HeldRoles()
		info := k.Details()
		resp.Name = info.Name
		if info.Meta != "" {
			resp.Meta = json.RawMessage(info.Meta)
		}
		enabled := !k.Disabled
		resp.Enabled = &enabled
	}
	if c := res.Consumer; c != nil {
		resp.Consumer = &keygate.VerifiedCaller{ID: c.ID, Username: c.Username, CustomID: c.CustomID, Groups: orEmpty(c.Groups), Meta: c.Meta}
	}
	if s.Meter != nil && res.Key != nil { // counted in usage, marked as a verify
		req := meter.Request{At: s.now(), CredentialID: res.Key.ID, RouteID: t.RouteID, Rejected: !resp.Valid, Verify: true}
		if res.Consumer != nil {
			req.ConsumerID = res.Consumer.ID
		}
		s.Meter.Count(&req)
	}
	return reply(w, http.StatusOK, resp)
}

// verifyLimits applies the usage plan and the credits of a valid key, as
// the gateway does for a request (package limiting): the plan's limits for
// the target's route (or the plan's own), counted for the same subject,
// then the named limits the request spends (limiting.ApplyNamed), then the
// key's credits. It sets resp's code and the limits' state. A named limit
// the plan does not define is a 400 naming it. An error is otherwise a
// limiter that cannot decide when the operator chose to fail closed, or
// credits that cannot be read: 503, never a refusal.
func (s *Server) verifyLimits(ctx context.Context, res *keygate.VerifyResult, t keygate.Target, reqCost *int, named []keygate.NamedCost, resp *keygate.VerifyResponse) error {
	k, c := res.Key, res.Consumer
	cost := 1
	var consumerID string
	if c != nil {
		consumerID = c.ID
	}
	var plan *keygate.Plan
	if id := k.Plan(c); id != "" && s.Limiter != nil {
		p, err := s.Store.FindPlan(ctx, id)
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND: // being deleted: as the gateway, unlimited
		case err != nil:
			return keygate.Unavailable(err, "key verification unavailable, try again later")
		default:
			plan = p
		}
	}
	var spends []limiting.Spend
	for i, n := range named {
		var l *keygate.NamedLimit
		if plan != nil {
			l = plan.Find(n.Name)
		}
		if l == nil {
			return keygate.Errorf(keygate.EINVALID, "ratelimits[%d].name: the key's plan has no limit named %q", i, n.Name)
		}
		c := 1
		if n.Cost != nil {
			c = *n.Cost
		}
		spends = append(spends, limiting.Spend{Limit: l, Cost: c})
	}
	var limits keygate.Limits
	if plan != nil {
		limits, cost = plan.Limits(t.RouteID)
	}
	if reqCost != nil {
		cost = *reqCost
	}
	resp.Code = keygate.CodeValid
	if cost == 0 && len(spends) == 0 {
		return nil // a check that counts nothing
	}
	var subject keygate.Subject
	if plan != nil {
		subject = keygate.PlanSubject(plan.LimitBy, plan.ID, t.RouteID, k.Lineage, consumerID, t.IP)
	}
	if plan != nil && !limits.IsZero() && cost > 0 {
		code, d, err := limiting.Apply(ctx, s.Limiter, subject, &limits, cost)
		switch {
		case err != nil && s.RateLimitFailOpen:
			s.logger().Error("rate limiter unavailable; verify answers unlimited (fail open)", "error", err)
		case err != nil:
			return keygate.Unavailable(err, "rate limiting is unavailable, try again later")
		default:
			resp.Code, resp.Limits = code, verifiedLimits(&d)
			if code == keygate.CodeValid {
				s.LimitEvents.QuotaExhausted(&d, &limits, plan.ID, k.ID, consumerID, subject)
			}
		}
	}
	if resp.Code == keygate.CodeValid && len(spends) > 0 {
		code, states, err := limiting.ApplyNamed(ctx, s.Limiter, subject, spends)
		switch {
		case err != nil && s.RateLimitFailOpen:
			s.logger().Error("rate limiter unavailable; verify answers unlimited (fail open)", "error", err)
		case err != nil:
			return keygate.Unavailable(err, "rate limiting is unavailable, try again later")
		default:
			resp.Code, resp.Limits = code, append(resp.Limits, states...)
		}
	}
	if resp.Code != keygate.CodeValid || !k.Credits || cost == 0 {
		return nil
	}
	code, sp, err := s.LimitEvents.Spend(ctx, s.Store, k.ID, consumerID, cost, s.now())
	if err != nil {
		return keygate.Unavailable(err, "credits are unavailable, try again later")
	}
	resp.Code = code
	if sp.Limited {
		resp.Credits = &keygate.VerifiedCredits{Remaining: sp.Remaining}
	}
	return nil
}

// verifiedLimits is d's state of each configured limit, as the gateway's
// X-RateLimit headers tell it (the rate's limit being its burst).
func verifiedLimits(d *keygate.LimitDecision) []keygate.VerifiedLimit {
	var out []keygate.VerifiedLimit
	add := func(name string, st *keygate.LimitState) {
		out = append(out, keygate.VerifiedLimit{Name: name, Limit: st.Limit, Remaining: st.Remaining, Reset: int64((st.Reset + time.Second - 1) / time.Second)})
	}
	if d.Rate.Limit > 0 {
		add("rate", &d.Rate)
	}
	for i := range d.Quotas {
		if d.Quotas[i].Limit > 0 {
			add(keygate.Period(i+1).String(), &d.Quotas[i])
		}
	}
	return out
}

// verifierTarget resolves the service and route of a verify request made
// with a token restricted to services. The request must name a service or
// route of those; one that is unknown is refused like one of another
// service, so the token cannot learn what else exists.
func (s *Server) verifierTarget(ctx context.Context, tok *keygate.AdminToken, req keygate.VerifyRequest) (keygate.Target, error) {
	var t keygate.Target
	forbidden := func(what string) error {
		return keygate.Errorf(keygate.EFORBIDDEN, "admin token %q may verify keys only for its services, not for %s", tok.Name, what)
	}
	if req.Service == "" && req.Route == "" {
		return t, keygate.Errorf(keygate.EFORBIDDEN, "admin token %q may verify keys only for its services: name one in service", tok.Name)
	}
	if req.Service != "" {
		id, err := resolve(ctx, "service", "service", req.Service, s.serviceID)
		switch {
		case keygate.ErrorCode(err) == keygate.EINVALID:
			return t, forbidden(fmt.Sprintf("service %q", req.Service))
		case err != nil:
			return t, err
		case !tok.MayVerifyFor(id):
			return t, forbidden(fmt.Sprintf("service %q", req.Service))
		}
		t.ServiceID = id
	}
	if req.Route != "" {
		rt, err := s.Store.FindRoute(ctx, req.Route)
		switch {
		case keygate.ErrorCode(err) == keygate.ENOTFOUND || err == nil && !tok.MayVerifyFor(rt.Service.ID):
			return t, forbidden(fmt.Sprintf("route %q", req.Route))
		case err != nil:
			return t, err
		}
		t.RouteID = rt.ID
	}
	return t, nil
}

func (s *Server) serviceID(ctx context.Context, ref string) (string, error) {
	svc, err := s.Store.FindService(ctx, ref)
	if err != nil {
		return "", err
	}
	return svc.ID, nil
}

// verifyPermissions is the permission query a verify request asks for:
// its own, and with a method, the route's for that method (as the gateway
// applies it); nil for none.
func (s *Server) verifyPermissions(ctx context.Context, req keygate.VerifyRequest, routeID string) (*permquery.Query, error) {
	q, err := compilePermissions("permissions", req.Permissions)
	if err != nil {
		return nil, err
	}
	if req.Method == "" {
		return q, nil
	}
	if strings.Trim(req.Method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" || len(req.Method) > 16 {
		return nil, keygate.Errorf(keygate.EINVALID, "method: must be an upper-case HTTP method such as GET")
	}
	if routeID == "" {
		return nil, keygate.Errorf(keygate.EINVALID, "method: needs route")
	}
	rt, err := s.Store.FindRoute(ctx, routeID)
	if err != nil {
		return nil, err
	}
	rq, err := compilePermissions("route permissions", rt.PermissionQuery(req.Method))
	if err != nil {
		return nil, err
	}
	return permquery.And(rq, q), nil
}

// compilePermissions compiles a permission query from a request; a bad
// one is a 400 naming field and the position.
func compilePermissions(field, src string) (*permquery.Query, error) {
	if src == "" {
		return nil, nil
	}
	q, err := permquery.Compile(src)
	var perr *permquery.Error
	if errors.As(err, &perr) {
		return nil, keygate.Errorf(keygate.EINVALID, "%s: position %d: %s", field, perr.Pos, perr.Msg)
	}
	return q, err
}

func (s *Server) routeID(ctx context.Context, ref string) (string, error) {
	rt, err := s.Store.FindRoute(ctx, ref)
	if err != nil {
		return "", err
	}
	return rt.ID, nil
}

// resolve turns a reference in a request body into an id. An unknown
// entity is the body's fault (400), not a missing resource at the URL (404).
func resolve(ctx context.Context, field, kind, ref string, find func(context.Context, string) (string, error)) (string, error) {
	if ref == "" || len(ref) > 128 {
		return "", keygate.Errorf(keygate.EINVALID, "%s: must be the id or name of a %s", field, kind)
	}
	id, err := find(ctx, ref)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return "", keygate.Errorf(keygate.EINVALID, "%s: no %s %q", field, kind, ref)
	}
	return id, err
}

func resolveAll(ctx context.Context, field, kind string, refs []string, find func(context.Context, string) (string, error)) ([]string, error) {
	if len(refs) > maxRefs {
		return nil, keygate.Errorf(keygate.EINVALID, "%s: at most %d entries", field, maxRefs)
	}
	ids := make([]string, len(refs))
	for i, ref := range refs {
		id, err := resolve(ctx, fmt.Sprintf("%s[%d]", field, i), kind, ref, find)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	return ids, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
