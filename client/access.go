package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keygate/keygate"
)

// Access requests

// RequestAccess asks for a consumer's access to services and routes. The
// result's PickupToken lets the requester pick the key up once the request
// is approved (see PickUpAccessWithToken); it is returned this once. A
// request an access rule approves at once comes back approved.
func (c *Client) RequestAccess(ctx context.Context, in keygate.AccessRequestInput) (*keygate.CreatedAccessRequest, error) {
	return call[keygate.CreatedAccessRequest](ctx, c, http.MethodPost, "/v1/access-requests", in)
}

// AccessRequest returns one access request.
func (c *Client) AccessRequest(ctx context.Context, id string) (*keygate.AccessRequest, error) {
	return call[keygate.AccessRequest](ctx, c, http.MethodGet, at("access-requests", id), nil)
}

// AccessRequests returns one page of access requests, narrowed by f (the
// consumer by id or username), and the cursor of the next page.
func (c *Client) AccessRequests(ctx context.Context, f keygate.AccessRequestFilter, p keygate.Page) ([]*keygate.AccessRequest, string, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.ConsumerID != "" {
		q.Set("consumer", f.ConsumerID)
	}
	if p.Limit > 0 {
		q.Set("size", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("offset", p.After)
	}
	path := "/v1/access-requests"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	l, err := call[keygate.List[*keygate.AccessRequest]](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, "", err
	}
	return l.Data, l.Offset, nil
}

// ApproveAccess approves a pending request, issuing its key.
func (c *Client) ApproveAccess(ctx context.Context, id, reason string) (*keygate.AccessRequest, error) {
	return call[keygate.AccessRequest](ctx, c, http.MethodPost, at("access-requests", id)+"/approve", keygate.AccessDecisionInput{Reason: reason})
}

// DenyAccess denies a pending request.
func (c *Client) DenyAccess(ctx context.Context, id, reason string) (*keygate.AccessRequest, error) {
	return call[keygate.AccessRequest](ctx, c, http.MethodPost, at("access-requests", id)+"/deny", keygate.AccessDecisionInput{Reason: reason})
}

// PickUpAccess collects an approved request's key with the client's admin
// token. The result's Key.Key is the full key: it is returned this once.
func (c *Client) PickUpAccess(ctx context.Context, id string) (*keygate.AccessPickup, error) {
	return call[keygate.AccessPickup](ctx, c, http.MethodPost, at("access-requests", id)+"/pickup", nil)
}

// PickUpAccessWithToken collects an approved request's key with the pickup
// token its creation returned, without an admin token (the client's token
// is not sent). The result's Key.Key is the full key, returned this once.
func (c *Client) PickUpAccessWithToken(ctx context.Context, id, pickupToken string) (*keygate.AccessPickup, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+at("access-requests", id)+"/pickup", nil)
	if err != nil {
		return nil, fmt.Errorf("keygate admin API: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(keygate.PickupTokenHeader, pickupToken)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keygate admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("keygate admin API: reading response: %w", err)
	}
	if resp.StatusCode >= 300 {
		return nil, responseError(resp, b)
	}
	v := new(keygate.AccessPickup)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("keygate admin API: decoding response: %w", err)
	}
	return v, nil
}

// Access rules

// CreateAccessRule creates an auto-approval rule; start from
// keygate.NewAccessRule. Services may be given by id or name.
func (c *Client) CreateAccessRule(ctx context.Context, r *keygate.AccessRule) (*keygate.AccessRule, error) {
	return create[keygate.AccessRule](ctx, c, "/v1/access-rules", r)
}

// AccessRule returns the rule with id or name ref.
func (c *Client) AccessRule(ctx context.Context, ref string) (*keygate.AccessRule, error) {
	return call[keygate.AccessRule](ctx, c, http.MethodGet, at("access-rules", ref), nil)
}

// AccessRules returns one page of rules, in creation order (the order in
// which they are tried).
func (c *Client) AccessRules(ctx context.Context, p keygate.Page) ([]*keygate.AccessRule, string, error) {
	return list[*keygate.AccessRule](ctx, c, "/v1/access-rules", p)
}

// UpdateAccessRule applies patch (JSON field names) to a rule.
func (c *Client) UpdateAccessRule(ctx context.Context, ref string, patch map[string]any) (*keygate.AccessRule, error) {
	return call[keygate.AccessRule](ctx, c, http.MethodPatch, at("access-rules", ref), patch)
}

func (c *Client) DeleteAccessRule(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("access-rules", ref), nil, nil)
}
