// Package client is the Go client of keygate's admin API (package adminapi),
// used by the CLI, SDKs and end-to-end tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/keyring"
)

// Client calls one admin API with one admin token.
type Client struct {
	BaseURL    string
	Token      string
	HTTPClient *http.Client // nil: http.DefaultClient
	// Reason, when set, is sent with every request (X-Audit-Reason) and
	// recorded in the audit trail with the changes the request makes.
	Reason string
}

// New returns a client of the admin API at baseURL (such as
// http://127.0.0.1:8001) that authenticates with token.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), Token: token}
}

// Error is an error answer of the admin API.
type Error struct {
	Status    int    // HTTP status
	Code      string // one of keygate's E* codes
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("keygate admin API: %s (%s, HTTP %d", e.Message, e.Code, e.Status)
	if e.RequestID != "" {
		s += ", request id " + e.RequestID
	}
	return s + ")"
}

// maxResponse bounds what is read of a response; lists of 1000 keys fit easily.
const maxResponse = 64 << 20

// do sends in (if not nil) as JSON and decodes the answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("keygate admin API: encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("keygate admin API: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.Reason != "" {
		req.Header.Set("X-Audit-Reason", c.Reason)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("keygate admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("keygate admin API: reading response: %w", err)
	}
	if resp.StatusCode >= 300 {
		return responseError(resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("keygate admin API: decoding response: %w", err)
	}
	return nil
}

func responseError(resp *http.Response, body []byte) error {
	var e keygate.ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
		// Not the API's answer (a proxy in the way, a wrong URL): say so
		// without dumping an unknown body.
		return &Error{Status: resp.StatusCode, Message: "unexpected response: " + resp.Status,
			RequestID: resp.Header.Get("X-Request-ID")}
	}
	return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, RequestID: e.Error.RequestID}
}

// forCreate encodes an entity as a create request body: without the fields
// the server assigns, which it refuses to be sent.
func forCreate(v any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "id")
	delete(m, "created_at")
	delete(m, "updated_at")
	return m, nil
}

// call sends in (if not nil) and returns the decoded answer.
func call[T any](ctx context.Context, c *Client, method, path string, in any) (*T, error) {
	v := new(T)
	if err := c.do(ctx, method, path, in, v); err != nil {
		return nil, err
	}
	return v, nil
}

func create[T any](ctx context.Context, c *Client, path string, in any) (*T, error) {
	body, err := forCreate(in)
	if err != nil {
		return nil, fmt.Errorf("keygate admin API: encoding request: %w", err)
	}
	return call[T](ctx, c, http.MethodPost, path, body)
}

func list[T any](ctx context.Context, c *Client, path string, p keygate.Page) ([]T, string, error) {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("size", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("offset", p.After)
	}
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&" // the caller's filters come first
		}
		path += sep + q.Encode()
	}
	l, err := call[keygate.List[T]](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, "", err
	}
	return l.Data, l.Offset, nil
}

// at is the path of one entity in a collection.
func at(collection, ref string) string { return "/v1/" + collection + "/" + url.PathEscape(ref) }

// Health reports whether the server and its store answer.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

// Services

// CreateService creates s; start from keygate.NewService for Kong's defaults.
func (c *Client) CreateService(ctx context.Context, s *keygate.Service) (*keygate.Service, error) {
	return create[keygate.Service](ctx, c, "/v1/services", s)
}

// Service returns the service with id or name ref.
func (c *Client) Service(ctx context.Context, ref string) (*keygate.Service, error) {
	return call[keygate.Service](ctx, c, http.MethodGet, at("services", ref), nil)
}

// Services returns one page of services and the cursor of the next, "" after the last.
func (c *Client) Services(ctx context.Context, p keygate.Page) ([]*keygate.Service, string, error) {
	return list[*keygate.Service](ctx, c, "/v1/services", p)
}

// UpdateService applies patch (JSON field names) to a service.
func (c *Client) UpdateService(ctx context.Context, ref string, patch map[string]any) (*keygate.Service, error) {
	return call[keygate.Service](ctx, c, http.MethodPatch, at("services", ref), patch)
}

// DeleteService deletes a service; a service with routes can't be deleted.
func (c *Client) DeleteService(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("services", ref), nil, nil)
}

// ServiceRoutes returns one page of the routes of a service.
func (c *Client) ServiceRoutes(ctx context.Context, service string, p keygate.Page) ([]*keygate.Route, string, error) {
	return list[*keygate.Route](ctx, c, at("services", service)+"/routes", p)
}

// Routes

// CreateRoute creates r; start from keygate.NewRoute for Kong's defaults.
func (c *Client) CreateRoute(ctx context.Context, r *keygate.Route) (*keygate.Route, error) {
	return create[keygate.Route](ctx, c, "/v1/routes", r)
}

func (c *Client) Route(ctx context.Context, ref string) (*keygate.Route, error) {
	return call[keygate.Route](ctx, c, http.MethodGet, at("routes", ref), nil)
}

func (c *Client) Routes(ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
	return list[*keygate.Route](ctx, c, "/v1/routes", p)
}

// UpdateRoute applies patch to a route; key_auth and acl are replaced as a whole.
func (c *Client) UpdateRoute(ctx context.Context, ref string, patch map[string]any) (*keygate.Route, error) {
	return call[keygate.Route](ctx, c, http.MethodPatch, at("routes", ref), patch)
}

func (c *Client) DeleteRoute(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("routes", ref), nil, nil)
}

// Consumers

func (c *Client) CreateConsumer(ctx context.Context, co *keygate.Consumer) (*keygate.Consumer, error) {
	return create[keygate.Consumer](ctx, c, "/v1/consumers", co)
}

func (c *Client) Consumer(ctx context.Context, ref string) (*keygate.Consumer, error) {
	return call[keygate.Consumer](ctx, c, http.MethodGet, at("consumers", ref), nil)
}

func (c *Client) Consumers(ctx context.Context, p keygate.Page) ([]*keygate.Consumer, string, error) {
	return list[*keygate.Consumer](ctx, c, "/v1/consumers", p)
}

func (c *Client) UpdateConsumer(ctx context.Context, ref string, patch map[string]any) (*keygate.Consumer, error) {
	return call[keygate.Consumer](ctx, c, http.MethodPatch, at("consumers", ref), patch)
}

// DeleteConsumer deletes a consumer and its keys.
func (c *Client) DeleteConsumer(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("consumers", ref), nil, nil)
}

// Permissions and roles

func (c *Client) CreatePermission(ctx context.Context, p *keygate.Permission) (*keygate.Permission, error) {
	return create[keygate.Permission](ctx, c, "/v1/permissions", p)
}

func (c *Client) Permission(ctx context.Context, ref string) (*keygate.Permission, error) {
	return call[keygate.Permission](ctx, c, http.MethodGet, at("permissions", ref), nil)
}

func (c *Client) Permissions(ctx context.Context, p keygate.Page) ([]*keygate.Permission, string, error) {
	return list[*keygate.Permission](ctx, c, "/v1/permissions", p)
}

func (c *Client) UpdatePermission(ctx context.Context, ref string, patch map[string]any) (*keygate.Permission, error) {
	return call[keygate.Permission](ctx, c, http.MethodPatch, at("permissions", ref), patch)
}

// DeletePermission deletes a permission; one a role, consumer or key holds is ECONFLICT.
func (c *Client) DeletePermission(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("permissions", ref), nil, nil)
}

func (c *Client) CreateRole(ctx context.Context, r *keygate.Role) (*keygate.Role, error) {
	return create[keygate.Role](ctx, c, "/v1/roles", r)
}

func (c *Client) Role(ctx context.Context, ref string) (*keygate.Role, error) {
	return call[keygate.Role](ctx, c, http.MethodGet, at("roles", ref), nil)
}

func (c *Client) Roles(ctx context.Context, p keygate.Page) ([]*keygate.Role, string, error) {
	return list[*keygate.Role](ctx, c, "/v1/roles", p)
}

func (c *Client) UpdateRole(ctx context.Context, ref string, patch map[string]any) (*keygate.Role, error) {
	return call[keygate.Role](ctx, c, http.MethodPatch, at("roles", ref), patch)
}

// DeleteRole deletes a role; one a consumer or key holds is ECONFLICT.
func (c *Client) DeleteRole(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("roles", ref), nil, nil)
}

// Plans

func (c *Client) CreatePlan(ctx context.Context, p *keygate.Plan) (*keygate.Plan, error) {
	return create[keygate.Plan](ctx, c, "/v1/plans", p)
}

func (c *Client) Plan(ctx context.Context, ref string) (*keygate.Plan, error) {
	return call[keygate.Plan](ctx, c, http.MethodGet, at("plans", ref), nil)
}

func (c *Client) Plans(ctx context.Context, p keygate.Page) ([]*keygate.Plan, string, error) {
	return list[*keygate.Plan](ctx, c, "/v1/plans", p)
}

func (c *Client) UpdatePlan(ctx context.Context, ref string, patch map[string]any) (*keygate.Plan, error) {
	return call[keygate.Plan](ctx, c, http.MethodPatch, at("plans", ref), patch)
}

// DeletePlan deletes a plan; one assigned to a consumer or a live key is
// refused.
func (c *Client) DeletePlan(ctx context.Context, ref string) error {
	return c.do(ctx, http.MethodDelete, at("plans", ref), nil, nil)
}

// Usage

// UsageQuery selects usage: consumer (id or username), key (id) and route
// (id or name) narrow it; From and To bound it; Granularity is minute, hour,
// day or month. Zero fields take the server's defaults.
type UsageQuery struct {
	Consumer, Key, Route string
	From, To             time.Time
	Granularity          keygate.Granularity
}

// UsageReport is the answer of GET /v1/usage.
type UsageReport struct {
	Data        []keygate.UsageRow  `json:"data"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	Granularity keygate.Granularity `json:"granularity"`
}

// Usage sums what credentials did per bucket, consumer, credential and route.
func (c *Client) Usage(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	v := url.Values{}
	for name, value := range map[string]string{"consumer": q.Consumer, "key": q.Key, "route": q.Route, "granularity": string(q.Granularity)} {
		if value != "" {
			v.Set(name, value)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	return call[UsageReport](ctx, c, http.MethodGet, "/v1/usage?"+v.Encode(), nil)
}

// Keys

// CreateKey issues a key to consumer (id or username). The result's Key is
// the full key: it is returned this once and can never be read again.
func (c *Client) CreateKey(ctx context.Context, consumer string, req keygate.KeyRequest) (*keygate.IssuedKey, error) {
	return call[keygate.IssuedKey](ctx, c, http.MethodPost, at("consumers", consumer)+"/keys", req)
}

// ImportKey stores an existing key (one of Kong's) for consumer (id or
// username), so that it keeps working as it is; req.Key is the key and
// Import is set for the caller. The answer is the stored key, never the key
// itself.
func (c *Client) ImportKey(ctx context.Context, consumer string, req keygate.KeyImport) (*keygate.APIKey, error) {
	req.Import = true
	return call[keygate.APIKey](ctx, c, http.MethodPost, at("consumers", consumer)+"/keys", req)
}

// ListKeys lists the keys f selects: those of f.ConsumerID (an id or a
// username) if set, else every consumer's, and only the imported ones or
// only the others if f.Imported is set.
func (c *Client) ListKeys(ctx context.Context, f keygate.KeyFilter, p keygate.Page) ([]*keygate.APIKey, string, error) {
	path := "/v1/keys"
	if f.ConsumerID != "" {
		path = at("consumers", f.ConsumerID) + "/keys"
	}
	if f.Imported != nil {
		path += "?imported=" + strconv.FormatBool(*f.Imported)
	}
	return list[*keygate.APIKey](ctx, c, path, p)
}

// Keys returns one page of all keys.
func (c *Client) Keys(ctx context.Context, p keygate.Page) ([]*keygate.APIKey, string, error) {
	return list[*keygate.APIKey](ctx, c, "/v1/keys", p)
}

// ConsumerKeys returns one page of the keys of consumer.
func (c *Client) ConsumerKeys(ctx context.Context, consumer string, p keygate.Page) ([]*keygate.APIKey, string, error) {
	return list[*keygate.APIKey](ctx, c, at("consumers", consumer)+"/keys", p)
}

func (c *Client) Key(ctx context.Context, id string) (*keygate.APIKey, error) {
	return call[keygate.APIKey](ctx, c, http.MethodGet, at("keys", id), nil)
}

// UpdateKey changes a key's name, tags or plan, the fields patch sets (a
// plan by id or name; nil removes the key's own plan, leaving its
// consumer's). A key's other fields cannot be changed: rotate it instead.
func (c *Client) UpdateKey(ctx context.Context, id string, patch map[string]any) (*keygate.APIKey, error) {
	return call[keygate.APIKey](ctx, c, http.MethodPatch, at("keys", id), patch)
}

// RevokeKey revokes a key; revoking a revoked key changes nothing.
func (c *Client) RevokeKey(ctx context.Context, id string) (*keygate.APIKey, error) {
	return call[keygate.APIKey](ctx, c, http.MethodPost, at("keys", id)+"/revoke", nil)
}

func (c *Client) DeleteKey(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, at("keys", id), nil, nil)
}

// VerifyKey checks a key as the gateway would. An invalid key is not an
// error: see the response's Code.
func (c *Client) VerifyKey(ctx context.Context, req keygate.VerifyRequest) (*keygate.VerifyResponse, error) {
	return call[keygate.VerifyResponse](ctx, c, http.MethodPost, "/v1/keys/verify", req)
}

// KeyringStatus returns the keyring's versions and what a rewrap still has to move.
func (c *Client) KeyringStatus(ctx context.Context) (*keyring.Status, error) {
	return call[keyring.Status](ctx, c, http.MethodGet, "/v1/keyring", nil)
}

// Nodes are the running keygate nodes, the most recently started first.
func (c *Client) Nodes(ctx context.Context) ([]*keygate.Node, error) {
	nodes, _, err := list[*keygate.Node](ctx, c, "/v1/nodes", keygate.Page{})
	return nodes, err
}

// RotateKeyring adds a keyring version that wraps every new data key.
func (c *Client) RotateKeyring(ctx context.Context) (*keyring.Status, error) {
	return call[keyring.Status](ctx, c, http.MethodPost, "/v1/keyring/rotate", nil)
}

// RewrapResult is one rewrap batch's outcome.
type RewrapResult struct {
	Rewrapped int `json:"rewrapped"`
	keyring.Status
}

// RewrapKeyring moves up to batchSize data keys to the current keyring
// version; repeat until Remaining is 0.
func (c *Client) RewrapKeyring(ctx context.Context, batchSize int) (*RewrapResult, error) {
	return call[RewrapResult](ctx, c, http.MethodPost, "/v1/keyring/rewrap", map[string]int{"batch_size": batchSize})
}

// RetireKeyringVersion deletes a keyring version no data key uses any more.
func (c *Client) RetireKeyringVersion(ctx context.Context, version int) error {
	return c.do(ctx, http.MethodDelete, "/v1/keyring/versions/"+strconv.Itoa(version), nil, nil)
}

// CreateHMACCredential issues an HMAC credential, which expires if
// req.TTL or req.ExpiresAt says so; the result is the only place its
// secret is ever shown.
func (c *Client) CreateHMACCredential(ctx context.Context, consumer string, req keygate.HMACCredentialRequest) (*keygate.IssuedHMACCredential, error) {
	return call[keygate.IssuedHMACCredential](ctx, c, http.MethodPost, at("consumers", consumer)+"/hmac-credentials", req)
}

func (c *Client) HMACCredentials(ctx context.Context, consumer string, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
	return list[*keygate.HMACCredential](ctx, c, at("consumers", consumer)+"/hmac-credentials", p)
}

func (c *Client) HMACCredential(ctx context.Context, consumer, id string) (*keygate.HMACCredential, error) {
	return call[keygate.HMACCredential](ctx, c, http.MethodGet, at("consumers", consumer)+"/hmac-credentials/"+url.PathEscape(id), nil)
}

func (c *Client) RevokeHMACCredential(ctx context.Context, consumer, id string) (*keygate.HMACCredential, error) {
	return call[keygate.HMACCredential](ctx, c, http.MethodPost, at("consumers", consumer)+"/hmac-credentials/"+url.PathEscape(id)+"/revoke", nil)
}

func (c *Client) DeleteHMACCredential(ctx context.Context, consumer, id string) error {
	return c.do(ctx, http.MethodDelete, at("consumers", consumer)+"/hmac-credentials/"+url.PathEscape(id), nil, nil)
}

// AllHMACCredentials lists every consumer's HMAC credentials.
func (c *Client) AllHMACCredentials(ctx context.Context, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
	return list[*keygate.HMACCredential](ctx, c, "/v1/hmac-credentials", p)
}

// ListHMACCredentials lists the HMAC credentials f selects: those of
// f.ConsumerID (an id or a username) if set, else every consumer's, and
// only the weak ones (imported with a short secret) or only the others if
// f.Weak is set.
func (c *Client) ListHMACCredentials(ctx context.Context, f keygate.HMACCredentialFilter, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
	path := "/v1/hmac-credentials"
	if f.ConsumerID != "" {
		path = at("consumers", f.ConsumerID) + "/hmac-credentials"
	}
	if f.Weak != nil {
		path += "?weak=" + strconv.FormatBool(*f.Weak)
	}
	return list[*keygate.HMACCredential](ctx, c, path, p)
}

// RotateKey issues a key's successor (shown once); the old key works until
// Previous.ExpiresAt. gracePeriod is in seconds; nil takes the default.
func (c *Client) RotateKey(ctx context.Context, id string, gracePeriod *int) (*keygate.KeyRotation, error) {
	return call[keygate.KeyRotation](ctx, c, http.MethodPost, at("keys", id)+"/rotate", keygate.RotateKeyRequest{GracePeriod: gracePeriod})
}

// Audit lists the audit trail, oldest first.
func (c *Client) Audit(ctx context.Context, f keygate.AuditFilter, p keygate.Page) ([]*keygate.AuditEvent, string, error) {
	q := url.Values{}
	for k, v := range map[string]string{"target": f.TargetID, "actor": f.Actor, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	path := "/v1/audit"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return list[*keygate.AuditEvent](ctx, c, path, p)
}
