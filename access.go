package keygate

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AccessStatus is where an access request stands.
type AccessStatus string

// An access request is pending until an admin or a rule decides it; an
// approved request holds the issued key, sealed, until the requester picks
// it up once.
const (
	AccessPending  AccessStatus = "pending"
	AccessApproved AccessStatus = "approved"
	AccessDenied   AccessStatus = "denied"
	AccessPickedUp AccessStatus = "picked_up"
)

// AccessStatuses lists every status, for validating filters.
var AccessStatuses = []AccessStatus{AccessPending, AccessApproved, AccessDenied, AccessPickedUp}

// AccessRequest asks for a consumer's access to services and/or routes.
// Approving it issues an API key restricted to them; the key is kept sealed
// by the keyring (kind SealedAccessPickup, the request's id) until it is
// picked up, once, and then destroyed.
type AccessRequest struct {
	ID string `json:"id"`
	// Kind is what is asked for: AccessKindKey (a key for services and
	// routes) or AccessKindPlanChange (another usage plan, Plan).
	Kind     string   `json:"kind"`
	Consumer Ref      `json:"consumer"`
	Services []string `json:"services"` // ids
	Routes   []string `json:"routes"`   // ids
	// Plan is what the request is for; auto-approval rules match it
	// exactly. When, at approval, it is the name of a usage plan, the
	// issued key gets that plan (APIKey.Plan); otherwise it is only a
	// label and the key is limited by its consumer's plan, if any.
	Plan   string       `json:"plan"`
	Reason string       `json:"reason"`
	Status AccessStatus `json:"status"`
	// RequestedBy is the name of the admin token that made the request;
	// DecidedBy that of the one that decided it, or "rule:<name>" for an
	// auto-approval.
	RequestedBy    string `json:"requested_by"`
	DecidedBy      string `json:"decided_by,omitempty"`
	DecisionReason string `json:"decision_reason,omitempty"`
	// KeyID is the key issued on approval; for a plan change, the key
	// whose own plan changes ("": the consumer's plan changes).
	KeyID      string     `json:"key_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	PickedUpAt *time.Time `json:"picked_up_at,omitempty"`
	// PickupTokenHash is the SHA-256 of the pickup token, which lets the
	// requester collect the key without an admin token. The token itself is
	// shown once, when the request is created.
	PickupTokenHash []byte `json:"-"`
}

// Kinds of access request.
const (
	// AccessKindKey asks for a key for services and routes (the default).
	AccessKindKey = "key"
	// AccessKindPlanChange asks to move the consumer (or one of its keys,
	// KeyID) to the usage plan named Plan. Approval switches the plan in
	// one transaction: the keys stay as they are and usage counted so far
	// is kept, since usage is counted per key and consumer, not per plan.
	AccessKindPlanChange = "plan_change"
)

// SealedAccessPickup is the Sealed.Kind of an approved request's key,
// waiting to be picked up; the Sealed.ID is the request's id.
const SealedAccessPickup = "access_pickup"

// RulePrefix starts the DecidedBy of a request an access rule approved.
const RulePrefix = "rule:"

// Normalize makes nil lists empty and an empty Kind AccessKindKey. Stores
// call it before they save.
func (r *AccessRequest) Normalize() {
	r.Services, r.Routes = orEmpty(r.Services), orEmpty(r.Routes)
	if r.Kind == "" {
		r.Kind = AccessKindKey
	}
}

// Limits of access requests and rules.
const (
	MaxAccessReasonLen = 1024
	maxPlanLen         = 128
	maxActorLen        = 256
)

// Validate reports the first invalid field of a request as stored (services
// and routes are ids by now).
func (r *AccessRequest) Validate() error {
	if r.Consumer.IsZero() {
		return Errorf(EINVALID, "consumer: required")
	}
	if err := validateAccessKind(r.Kind, r.Services, r.Routes, r.Plan); err != nil {
		return err
	}
	if err := ValidateAccessReason("reason", r.Reason); err != nil {
		return err
	}
	if err := validateText("requested_by", r.RequestedBy, maxActorLen); err != nil {
		return err
	}
	if len(r.PickupTokenHash) == 0 {
		return Errorf(EINVALID, "pickup_token_hash: required")
	}
	return nil
}

// validateAccessKind checks what a request of kind asks for: services or
// routes for a key, a plan (and nothing else) for a plan change.
func validateAccessKind(kind string, services, routes []string, plan string) error {
	switch kind {
	case "", AccessKindKey:
		if err := validateAccessTargets(services, routes); err != nil {
			return err
		}
		return validatePlan("plan", plan, false)
	case AccessKindPlanChange:
		if len(services)+len(routes) > 0 {
			return Errorf(EINVALID, "services: a plan change asks for a plan, not for services or routes")
		}
		return validatePlan("plan", plan, true)
	}
	return Errorf(EINVALID, "kind: must be %s or %s", AccessKindKey, AccessKindPlanChange)
}

func validateAccessTargets(services, routes []string) error {
	switch {
	case len(services) == 0 && len(routes) == 0:
		return Errorf(EINVALID, "services: at least one service or route is required")
	case len(services) > maxListLen:
		return Errorf(EINVALID, "services: at most %d entries", maxListLen)
	case len(routes) > maxListLen:
		return Errorf(EINVALID, "routes: at most %d entries", maxListLen)
	}
	if err := validateList("services", services, validateRef); err != nil {
		return err
	}
	return validateList("routes", routes, validateRef)
}

func validateRef(ref string) string {
	if ref == "" || len(ref) > maxNameLen {
		return "must be an id or a name"
	}
	return textProblem(ref)
}

func validatePlan(field, plan string, required bool) error {
	switch {
	case plan == "" && required:
		return Errorf(EINVALID, "%s: required", field)
	case len(plan) > maxPlanLen:
		return Errorf(EINVALID, "%s: longer than %d characters", field, maxPlanLen)
	}
	if err := checkText(field, plan); err != nil {
		return err
	}
	if strings.TrimSpace(plan) != plan {
		return Errorf(EINVALID, "%s: must not start or end with spaces", field)
	}
	return nil
}

// ValidateAccessReason checks the free-text reason of a request or a
// decision: UTF-8, at most MaxAccessReasonLen bytes, no control characters
// but newlines and tabs.
func ValidateAccessReason(field, reason string) error {
	if len(reason) > MaxAccessReasonLen {
		return Errorf(EINVALID, "%s: longer than %d characters", field, MaxAccessReasonLen)
	}
	if !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool {
		return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f
	}) {
		return Errorf(EINVALID, "%s: must be UTF-8 without control characters", field)
	}
	return nil
}

func validateText(field, s string, maxLen int) error {
	switch {
	case len(s) > maxLen:
		return Errorf(EINVALID, "%s: longer than %d characters", field, maxLen)
	}
	return checkText(field, s)
}

// AccessDecision is who decides an access request, and why.
type AccessDecision struct {
	By     string // an admin token's name, or RulePrefix + a rule's name
	Reason string
}

// Validate reports the first invalid field.
func (d AccessDecision) Validate() error {
	if d.By == "" {
		return Errorf(EINVALID, "decided_by: required")
	}
	if err := validateText("decided_by", d.By, maxActorLen); err != nil {
		return err
	}
	return ValidateAccessReason("reason", d.Reason)
}

// AccessRequestFilter narrows ListAccessRequests; zero fields match everything.
type AccessRequestFilter struct {
	Status     AccessStatus
	ConsumerID string
}

// AccessRequestStore persists access requests. Every method is one
// transaction.
type AccessRequestStore interface {
	// CreateAccessRequest assigns ID, Status (pending) and CreatedAt and
	// stores r; the decision fields are the store's and left empty.
	// r.Consumer may be given by id or username (ENOTFOUND, naming the
	// consumer field, when absent) and is left holding the id.
	CreateAccessRequest(ctx context.Context, r *AccessRequest) error
	FindAccessRequest(ctx context.Context, id string) (*AccessRequest, error)
	// ListAccessRequests lists requests in creation order.
	ListAccessRequests(ctx context.Context, f AccessRequestFilter, p Page) (reqs []*AccessRequest, next string, err error)
	// ApproveAccessRequest approves a pending request (ECONFLICT for any
	// other) in one transaction: it stores key as CreateKey does, with the
	// request's consumer and its services and routes as the key's
	// restrictions, calls seal with the request's id and keeps what it
	// returns (the full key, sealed as SealedAccessPickup) for one pickup,
	// and records the decision and the key's id. When key has no plan and
	// the request's Plan is the name of a usage plan, the key gets that
	// plan. Of concurrent decisions exactly one wins. key is written back
	// as stored.
	ApproveAccessRequest(ctx context.Context, id string, d AccessDecision, key *APIKey, seal func(id string) (*Sealed, error)) (*AccessRequest, error)
	// ApprovePlanChange approves a pending plan change (ECONFLICT for any
	// other status, EINVALID for another kind) in one transaction: the
	// consumer's plan, or its key KeyID's, becomes the usage plan the
	// request's Plan names (EINVALID naming plan when there is none; the
	// request stays pending), and the decision is recorded. Reported as
	// the consumer's (or key's) update, so caches switch limits at once.
	ApprovePlanChange(ctx context.Context, id string, d AccessDecision) (*AccessRequest, error)
	// DenyAccessRequest denies a pending request (ECONFLICT for any other).
	DenyAccessRequest(ctx context.Context, id string, d AccessDecision) (*AccessRequest, error)
	// PickUpAccessRequest hands an approved request's sealed key to open
	// inside the transaction; when open succeeds, the sealed key and its
	// data key are destroyed (crypto-shredding) and the request becomes
	// picked_up, so that only one caller ever opens it. Any other status is
	// ECONFLICT, as is an approved request whose key was deleted meanwhile.
	// It returns the request and the issued key's record as they are
	// afterwards.
	PickUpAccessRequest(ctx context.Context, id string, open func(*Sealed) error) (*AccessRequest, *APIKey, error)
}

// AccessRule approves matching access requests at once: a request for Plan
// by a consumer in any of ConsumerGroups, for services that are all in
// Services (when Services is not empty; a route counts as its service).
// Plan is matched as text; when it names a usage plan, the keys the rule's
// approvals issue get that plan (see AccessRequest.Plan).
type AccessRule struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Plan           string   `json:"plan"`
	ConsumerGroups []string `json:"consumer_groups"`
	Services       []string `json:"services"` // ids; empty: any service
	Enabled        bool     `json:"enabled"`
	Timestamps
}

// NewAccessRule returns an enabled rule ready to be decoded into.
func NewAccessRule() *AccessRule {
	return &AccessRule{ConsumerGroups: []string{}, Services: []string{}, Enabled: true}
}

// Normalize makes nil lists empty. Stores call it before they save.
func (r *AccessRule) Normalize() {
	r.ConsumerGroups, r.Services = orEmpty(r.ConsumerGroups), orEmpty(r.Services)
}

// Validate reports the first invalid field. A rule needs a plan and at least
// one group: a rule without them would approve every request.
func (r *AccessRule) Validate() error {
	if err := validateName("name", r.Name, true); err != nil {
		return err
	}
	if err := validatePlan("plan", r.Plan, true); err != nil {
		return err
	}
	if len(r.ConsumerGroups) == 0 {
		return Errorf(EINVALID, "consumer_groups: at least one group is required")
	}
	if err := validateList("consumer_groups", r.ConsumerGroups, validateGroup); err != nil {
		return err
	}
	return validateList("services", r.Services, validateRef)
}

// Matches reports whether the rule approves a request for plan by consumer
// c for services (ids: the requested services and those of the requested
// routes).
func (r *AccessRule) Matches(c *Consumer, plan string, services []string) bool {
	if !r.Enabled || r.Plan != plan || c == nil {
		return false
	}
	if !slices.ContainsFunc(r.ConsumerGroups, func(g string) bool { return slices.Contains(c.Groups, g) }) {
		return false
	}
	if len(r.Services) == 0 {
		return true
	}
	for _, s := range services {
		if !slices.Contains(r.Services, s) {
			return false
		}
	}
	return true
}

// AccessRuleStore persists access rules. Every method is one transaction.
// Names are unique (ECONFLICT, naming the name field); rules are found by id
// or name.
type AccessRuleStore interface {
	// CreateAccessRule assigns ID and timestamps and stores r.
	CreateAccessRule(ctx context.Context, r *AccessRule) error
	FindAccessRule(ctx context.Context, ref string) (*AccessRule, error)
	// ListAccessRules lists rules in creation order.
	ListAccessRules(ctx context.Context, p Page) (rules []*AccessRule, next string, err error)
	// UpdateAccessRule applies update to the stored rule and saves it; update
	// cannot change the id or the creation time.
	UpdateAccessRule(ctx context.Context, ref string, update func(*AccessRule) error) (*AccessRule, error)
	DeleteAccessRule(ctx context.Context, ref string) error
}

// Wire types of the access API.

// AccessRequestInput is the body of POST /v1/access-requests. The consumer,
// services and routes are given by id or name.
type AccessRequestInput struct {
	// Kind is AccessKindKey (the default) or AccessKindPlanChange.
	Kind     string   `json:"kind,omitempty"`
	Consumer Ref      `json:"consumer"`
	Services []string `json:"services,omitempty"`
	Routes   []string `json:"routes,omitempty"`
	Plan     string   `json:"plan,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Key, for a plan change, is the key (id) whose own plan is to change;
	// without it the consumer's plan changes.
	Key string `json:"key,omitempty"`
}

// Validate reports the first invalid field.
func (in *AccessRequestInput) Validate() error {
	if in.Consumer.IsZero() {
		return Errorf(EINVALID, "consumer: required")
	}
	if err := validateAccessKind(in.Kind, in.Services, in.Routes, in.Plan); err != nil {
		return err
	}
	if in.Key != "" && in.Kind != AccessKindPlanChange {
		return Errorf(EINVALID, "key: only for a plan change")
	}
	if in.Key != "" && !LooksLikeID(in.Key) {
		return Errorf(EINVALID, "key: must be a key's id")
	}
	return ValidateAccessReason("reason", in.Reason)
}

// CreatedAccessRequest answers POST /v1/access-requests: the request and, in
// PickupToken, the token that lets the requester pick the key up without an
// admin token. It is the only response that holds the token.
type CreatedAccessRequest struct {
	AccessRequest
	PickupToken string `json:"pickup_token"`
}

// AccessDecisionInput is the body of POST /v1/access-requests/{id}/approve
// and .../deny; the body may be left out.
type AccessDecisionInput struct {
	Reason string `json:"reason,omitempty"`
}

// AccessPickup answers POST /v1/access-requests/{id}/pickup: the request,
// now picked up, and the issued key, whose Key is the full key. It is shown
// this once.
type AccessPickup struct {
	Request AccessRequest `json:"request"`
	Key     IssuedKey     `json:"key"`
}

// PickupTokenHeader carries the pickup token on POST
// /v1/access-requests/{id}/pickup when no admin token is used.
const PickupTokenHeader = "Keygate-Pickup-Token"
