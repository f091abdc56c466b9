package adminapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Access requests: a consumer (or an admin on its behalf) asks for services
// and routes; an admin, or an access rule at once, approves or denies; an
// approval issues a key restricted to what was asked for, which the
// requester picks up once — with the admin token or with the pickup token
// the request's creation returned.

// accessRoutes registers the access request and access rule endpoints.
func (s *Server) accessRoutes(h func(pattern string, fn handlerFunc)) {
	h("POST /v1/access-requests", s.createAccessRequest)
	h("GET /v1/access-requests", s.listAccessRequests)
	h("GET /v1/access-requests/{id}", get("id", s.Store.FindAccessRequest))
	h("POST /v1/access-requests/{id}/approve", s.decideAccessRequest(true))
	h("POST /v1/access-requests/{id}/deny", s.decideAccessRequest(false))
	h("POST /v1/access-requests/{id}/pickup", s.pickUpAccessRequest)

	h("POST /v1/access-rules", s.createAccessRule)
	h("GET /v1/access-rules", list(s.Store.ListAccessRules))
	h("GET /v1/access-rules/{rule}", get("rule", s.Store.FindAccessRule))
	h("PATCH /v1/access-rules/{rule}", s.updateAccessRule)
	h("DELETE /v1/access-rules/{rule}", remove("rule", s.Store.DeleteAccessRule))
}

// pickupTokenPrefix starts every pickup token, so that secret scanners and
// people can tell one from an admin token or an API key.
const pickupTokenPrefix = "kgpt_"

// accessPickupWithToken reports whether r is a pickup that carries a pickup
// token. Such requests need no admin token: pickUpAccessRequest checks the
// pickup token instead (and only it, even when an admin token is sent too).
// The path test is exact, so that no other endpoint is ever reached this way.
func accessPickupWithToken(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get(keygate.PickupTokenHeader) == "" {
		return false
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/access-requests/")
	if !ok {
		return false
	}
	id, ok = strings.CutSuffix(id, "/pickup")
	return ok && id != "" && id != "." && id != ".." && !strings.Contains(id, "/")
}

func (s *Server) createAccessRequest(w http.ResponseWriter, r *http.Request) error {
	var in keygate.AccessRequestInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	by, err := s.adminName(r)
	if err != nil {
		return err
	}
	created, err := s.requestAccess(r.Context(), in, by)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, created)
}

// requestAccess stores a validated request made by by and applies the first
// matching access rule. The answer holds the pickup token, shown once.
func (s *Server) requestAccess(ctx context.Context, in keygate.AccessRequestInput, by string) (*keygate.CreatedAccessRequest, error) {
	consumer, err := s.Store.FindConsumer(ctx, in.Consumer.String())
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer %q", in.Consumer.String())
	} else if err != nil {
		return nil, err
	}
	services, err := resolveAll(ctx, "services", "service", in.Services, s.serviceID)
	if err != nil {
		return nil, err
	}
	// Rules look at services: a route counts as its service.
	covered := slices.Clone(services)
	routes := make([]string, len(in.Routes))
	for i, ref := range in.Routes {
		var service string
		routes[i], err = resolve(ctx, fmt.Sprintf("routes[%d]", i), "route", ref, func(ctx context.Context, ref string) (string, error) {
			rt, err := s.Store.FindRoute(ctx, ref)
			if err != nil {
				return "", err
			}
			service = rt.Service.ID
			return rt.ID, nil
		})
		if err != nil {
			return nil, err
		}
		covered = append(covered, service)
	}

	token := pickupTokenPrefix + rand.Text()
	req := &keygate.AccessRequest{
		Kind: in.Kind, Consumer: keygate.Ref{ID: consumer.ID}, Services: unique(services), Routes: unique(routes),
		Plan: in.Plan, Reason: in.Reason, RequestedBy: by, PickupTokenHash: HashAdminToken(token), KeyID: in.Key,
	}
	if req.Kind == keygate.AccessKindPlanChange {
		// Refused now rather than left pending for nobody to approve.
		if _, err := s.Store.FindPlan(ctx, in.Plan); keygate.ErrorCode(err) == keygate.ENOTFOUND {
			return nil, keygate.Errorf(keygate.EINVALID, "plan: no usage plan %q", in.Plan)
		} else if err != nil {
			return nil, err
		}
	}
	if err := s.Store.CreateAccessRequest(ctx, req); err != nil {
		return nil, refInBody(err)
	}
	s.publishAccess(ctx, keygate.EventAccessRequested, req, map[string]any{
		"services": req.Services, "routes": req.Routes, "plan": req.Plan, "requested_by": req.RequestedBy})

	// The request is stored and its pickup token must reach the requester
	// whatever happens now: a rule that cannot be applied leaves it pending,
	// for an admin to decide.
	if rule, err := s.matchingRule(ctx, consumer, req.Plan, unique(covered)); err != nil {
		s.logger().LogAttrs(ctx, slog.LevelError, "access rules could not be read; request left pending",
			slog.String("request_id", requestID(ctx)), slog.String("access_request_id", req.ID), slog.Any("err", err))
	} else if rule != nil {
		d := keygate.AccessDecision{By: keygate.RulePrefix + rule.Name, Reason: "approved by access rule " + rule.Name}
		// The rule decides: the audit trail records the key it issues as its doing.
		ruleCtx := keygate.WithReason(keygate.WithActor(ctx, d.By), d.Reason)
		if approved, err := s.approveAccess(ruleCtx, req.ID, d); err != nil {
			s.logger().LogAttrs(ctx, slog.LevelError, "auto-approval failed; request left pending",
				slog.String("request_id", requestID(ctx)), slog.String("access_request_id", req.ID),
				slog.String("rule", rule.Name), slog.Any("err", err))
		} else {
			req = approved
		}
	}
	return &keygate.CreatedAccessRequest{AccessRequest: *req, PickupToken: token}, nil
}

// matchingRule returns the first enabled rule, in creation order, that
// approves the request; nil when none does.
func (s *Server) matchingRule(ctx context.Context, c *keygate.Consumer, plan string, services []string) (*keygate.AccessRule, error) {
	p := keygate.Page{Limit: keygate.MaxPageSize}
	for {
		rules, next, err := s.Store.ListAccessRules(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, rule := range rules {
			if rule.Matches(c, plan, services) {
				return rule, nil
			}
		}
		if next == "" {
			return nil, nil
		}
		p.After = next
	}
}

// approveAccess issues the key of request id and keeps it sealed for its
// one pickup. The key's full form exists only in this call and, sealed, in
// the store.
func (s *Server) approveAccess(ctx context.Context, id string, d keygate.AccessDecision) (*keygate.AccessRequest, error) {
	pending, err := s.Store.FindAccessRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	if pending.Kind == keygate.AccessKindPlanChange {
		req, err := s.Store.ApprovePlanChange(ctx, id, d)
		if err != nil {
			return nil, err
		}
		s.publishAccess(ctx, keygate.EventAccessApproved, req, map[string]any{
			"kind": req.Kind, "key_id": req.KeyID, "plan": req.Plan, "decided_by": req.DecidedBy, "reason": req.DecisionReason})
		return req, nil
	}
	k := &keygate.APIKey{Name: "access-" + strings.ToLower(id), Status: keygate.KeyActive, AllowedCIDRs: []string{}, Tags: []string{}}
	key, err := s.mintKey(k)
	if err != nil {
		return nil, err
	}
	req, err := s.Store.ApproveAccessRequest(ctx, id, d, k, func(id string) (*keygate.Sealed, error) {
		return s.Keyring.Ring.Seal(keygate.SealedAccessPickup, id, []byte(key.Reveal()))
	})
	if err != nil {
		return nil, err
	}
	s.publishAccess(ctx, keygate.EventAccessApproved, req, map[string]any{
		"key_id": req.KeyID, "services": req.Services, "routes": req.Routes, "plan": req.Plan,
		"decided_by": req.DecidedBy, "reason": req.DecisionReason})
	return req, nil
}

func (s *Server) decideAccessRequest(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		var in keygate.AccessDecisionInput
		if err := decodeOptionalBody(w, r, &in); err != nil {
			return err
		}
		if err := keygate.ValidateAccessReason("reason", in.Reason); err != nil {
			return err
		}
		by, err := s.adminName(r)
		if err != nil {
			return err
		}
		req, err := s.DecideAccessRequest(ctx, r.PathValue("id"), approve, keygate.AccessDecision{By: by, Reason: in.Reason})
		if err != nil {
			return err
		}
		return reply(w, http.StatusOK, req)
	}
}

// pickUpAccessRequest hands over an approved request's key, once: the store
// opens the sealed copy and destroys it in one transaction.
func (s *Server) pickUpAccessRequest(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if accessPickupWithToken(r) {
		if err := s.checkPickupToken(ctx, id, r.Header.Get(keygate.PickupTokenHeader)); err != nil {
			return err
		}
	}
	p, err := s.pickUpAccess(ctx, id)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, p)
}

// pickUpAccess opens an approved request's key and destroys the sealed
// copy, in one store transaction: only one caller ever gets it.
func (s *Server) pickUpAccess(ctx context.Context, id string) (*keygate.AccessPickup, error) {
	var plain []byte
	req, k, err := s.Store.PickUpAccessRequest(ctx, id, func(sealed *keygate.Sealed) error {
		var err error
		plain, err = s.Keyring.Ring.Open(sealed)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			// A keyring version this node has not loaded yet: nothing is
			// lost, the key stays sealed for another try.
			return keygate.Unavailable(err, "keyring: the key's keyring version is not loaded on this node, try again later")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return &keygate.AccessPickup{Request: *req, Key: keygate.IssuedKey{APIKey: *k, Key: string(plain)}}, nil
}

// checkPickupToken checks token against request id's. An unknown request
// and a wrong token get the same answer, so that the endpoint tells someone
// without the token nothing.
func (s *Server) checkPickupToken(ctx context.Context, id, token string) error {
	denied := keygate.Errorf(keygate.EUNAUTHORIZED, "pickup token: not valid for this access request")
	req, err := s.Store.FindAccessRequest(ctx, id)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return denied
	case err != nil:
		return err
	case subtle.ConstantTimeCompare(HashAdminToken(token), req.PickupTokenHash) != 1:
		return denied
	}
	return nil
}

func (s *Server) listAccessRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f keygate.AccessRequestFilter
	if v := q.Get("status"); v != "" {
		if !slices.Contains(keygate.AccessStatuses, keygate.AccessStatus(v)) {
			return keygate.Errorf(keygate.EINVALID, "status: must be one of pending, approved, denied, picked_up")
		}
		f.Status = keygate.AccessStatus(v)
	}
	if v := q.Get("consumer"); v != "" {
		c, err := s.Store.FindConsumer(r.Context(), v)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			return keygate.Errorf(keygate.ENOTFOUND, "consumer: no consumer %q", v)
		} else if err != nil {
			return err
		}
		f.ConsumerID = c.ID
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.AccessRequest, string, error) {
		return s.Store.ListAccessRequests(ctx, f, p)
	})
}

func (s *Server) createAccessRule(w http.ResponseWriter, r *http.Request) error {
	rule := keygate.NewAccessRule()
	if err := decodeBody(w, r, rule); err != nil {
		return err
	}
	if err := s.resolveRule(r.Context(), rule); err != nil {
		return err
	}
	if err := s.Store.CreateAccessRule(r.Context(), rule); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, rule)
}

// updateAccessRule applies a patch inside the store's transaction, as
// update does, resolving the services it names.
func (s *Server) updateAccessRule(w http.ResponseWriter, r *http.Request) error {
	body, fields, err := readBody(w, r)
	if err != nil {
		return err
	}
	rule, err := s.Store.UpdateAccessRule(r.Context(), r.PathValue("rule"), func(v *keygate.AccessRule) error {
		clearNulls(v, fields)
		if err := decode(body, v); err != nil {
			return err
		}
		return s.resolveRule(r.Context(), v)
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, rule)
}

// resolveRule validates a rule and turns the services it names into ids.
func (s *Server) resolveRule(ctx context.Context, rule *keygate.AccessRule) error {
	if err := rule.Validate(); err != nil {
		return err
	}
	ids, err := resolveAll(ctx, "services", "service", rule.Services, s.serviceID)
	if err != nil {
		return err
	}
	rule.Services = unique(ids)
	return nil
}

// adminName returns the name of the admin token r was authenticated with,
// to record who requested or decided: from the audit actor the middleware
// set, or else from the token itself (which the middleware has checked).
func (s *Server) adminName(r *http.Request) (string, error) {
	if actor, _ := keygate.Audit(r.Context()); strings.HasPrefix(actor, "admin:") {
		return strings.TrimPrefix(actor, "admin:"), nil
	}
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	t, err := s.Store.FindAdminToken(r.Context(), HashAdminToken(strings.TrimSpace(token)))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND || err == nil && t == nil:
		return "", keygate.Errorf(keygate.EUNAUTHORIZED, "invalid admin token")
	case err != nil:
		return "", keygate.Unavailable(err, "admin token lookup unavailable, try again later")
	}
	return t.Name, nil
}

// publishAccess tells subscribers about an access request. The decision is
// stored already: a lost notice is logged, never undoes or fails it. Data
// never holds the key or the pickup token.
func (s *Server) publishAccess(ctx context.Context, typ string, req *keygate.AccessRequest, data map[string]any) {
	if s.Events == nil {
		return
	}
	data["request_id"], data["status"] = req.ID, req.Status
	err := s.Events.Publish(ctx, keygate.Event{Type: typ, CreatedAt: s.now(), ConsumerID: req.Consumer.ID, Data: data})
	if err != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "event not published", slog.String("type", typ),
			slog.String("access_request_id", req.ID), slog.Any("err", err))
	}
}

// decodeOptionalBody decodes a body that may be left out entirely (no body,
// or only white space) into v.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return keygate.Errorf(keygate.ETOOLARGE, "request body: larger than %d bytes", maxBody)
	} else if err != nil {
		return keygate.Errorf(keygate.EINVALID, "request body: could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decode(body, v)
}

// unique returns ids without repeats, in their first order.
func unique(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
