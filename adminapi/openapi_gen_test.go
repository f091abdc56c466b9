package adminapi

// The OpenAPI document is generated here, from the route table Handler
// registers, the permission table (roles.go) and, by reflection over their
// JSON tags, the request and response types the handlers decode and reply
// with. `go test ./adminapi -run TestOpenAPIDocument -update` rewrites
// openapi.json; without -update the test fails while the file differs, so a
// route or field added without regenerating is caught.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auditchain"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/sqlite"
	"github.com/keygate/keygate/sqlite/sqlitetest"
)

var updateOpenAPI = flag.Bool("update", false, "rewrite openapi.json from the route table and types")

// op describes one endpoint for the document.
type op struct {
	id, summary string
	in          any      // the request body's type (a zero value); nil: none
	optionalIn  bool     // the body may be left out
	out         any      // the response body's type; nil: none
	status      int      // the success status; 0: 200
	list        bool     // out is the element of a paged list
	query       []string // query parameters beyond paging
	open        bool     // needs no token
}

// patchKey is the body of PATCH /v1/keys/{id}: the only fields a key lets
// change.
type patchKey struct {
	Name    string           `json:"name,omitempty"`
	Tags    []string         `json:"tags,omitempty"`
	Plan    *string          `json:"plan,omitempty"`
	Enabled *bool            `json:"enabled,omitempty"`
	Meta    json.RawMessage  `json:"meta,omitempty"`
	Credits *keygate.Credits `json:"credits,omitempty"`
}

type rewrapResult struct {
	Rewrapped int `json:"rewrapped"`
	*keyring.Status
}

var ops = map[string]op{
	"GET /healthz":         {id: "health", summary: "Liveness: the store answers", out: map[string]string{}, open: true},
	"GET /v1/openapi.json": {id: "openapi", summary: "This document (any role)", out: map[string]any{}},

	"POST /v1/admin-tokens":        {id: "createAdminToken", summary: "Create an admin token with a role; the token is shown once", in: keygate.AdminTokenRequest{}, out: keygate.NewAdminToken{}, status: 201},
	"GET /v1/admin-tokens":         {id: "listAdminTokens", summary: "List admin tokens (never the tokens)", out: keygate.AdminToken{}, list: true},
	"DELETE /v1/admin-tokens/{id}": {id: "deleteAdminToken", summary: "Delete an admin token; the last admin token stays", status: 204},

	"POST /v1/services":                  {id: "createService", summary: "Create a service", in: keygate.Service{}, out: keygate.Service{}, status: 201},
	"GET /v1/services":                   {id: "listServices", summary: "List services", out: keygate.Service{}, list: true},
	"GET /v1/services/{service}":         {id: "getService", summary: "Get a service by id or name", out: keygate.Service{}},
	"PATCH /v1/services/{service}":       {id: "updateService", summary: "Change a service's fields", in: keygate.Service{}, out: keygate.Service{}},
	"DELETE /v1/services/{service}":      {id: "deleteService", summary: "Delete a service", status: 204},
	"GET /v1/services/{service}/routes":  {id: "listServiceRoutes", summary: "List a service's routes", out: keygate.Route{}, list: true},
	"GET /v1/services/{service}/targets": {id: "listTargets", summary: "A service's targets with this node's view of their health", out: keygate.TargetHealth{}, list: true},
	"PUT /v1/services/{service}/targets": {id: "putTargets", summary: "Replace a service's targets", in: TargetsBody{}, out: keygate.TargetHealth{}, list: true},
	"POST /v1/services/{service}/deploy": {id: "deploy", summary: "Blue/green: move a service's traffic to a target", in: keygate.Deploy{}, out: keygate.Service{}},

	"POST /v1/routes":           {id: "createRoute", summary: "Create a route", in: keygate.Route{}, out: keygate.Route{}, status: 201},
	"GET /v1/routes":            {id: "listRoutes", summary: "List routes", out: keygate.Route{}, list: true},
	"GET /v1/routes/{route}":    {id: "getRoute", summary: "Get a route by id or name", out: keygate.Route{}},
	"PATCH /v1/routes/{route}":  {id: "updateRoute", summary: "Change a route's fields", in: keygate.Route{}, out: keygate.Route{}},
	"DELETE /v1/routes/{route}": {id: "deleteRoute", summary: "Delete a route", status: 204},

	"POST /v1/consumers":                 {id: "createConsumer", summary: "Create a consumer", in: keygate.Consumer{}, out: keygate.Consumer{}, status: 201},
	"GET /v1/consumers":                  {id: "listConsumers", summary: "List consumers", out: keygate.Consumer{}, list: true},
	"GET /v1/consumers/{consumer}":       {id: "getConsumer", summary: "Get a consumer by id or username", out: keygate.Consumer{}},
	"PATCH /v1/consumers/{consumer}":     {id: "updateConsumer", summary: "Change a consumer's fields", in: keygate.Consumer{}, out: keygate.Consumer{}},
	"DELETE /v1/consumers/{consumer}":    {id: "deleteConsumer", summary: "Delete a consumer and its credentials", status: 204},
	"POST /v1/consumers/{consumer}/keys": {id: "createKey", summary: "Issue an API key (shown once), or import one (with key)", in: keygate.KeyImport{}, out: keygate.IssuedKey{}, status: 201},
	"GET /v1/consumers/{consumer}/keys":  {id: "listConsumerKeys", summary: "List a consumer's API keys (never the keys)", out: keygate.APIKey{}, list: true, query: []string{"imported"}},

	"GET /v1/keys":              {id: "listKeys", summary: "List API keys (never the keys)", out: keygate.APIKey{}, list: true, query: []string{"imported"}},
	"GET /v1/keys/{id}":         {id: "getKey", summary: "Get an API key's metadata", out: keygate.APIKey{}},
	"PATCH /v1/keys/{id}":       {id: "updateKey", summary: "Change a key's name, tags, plan, enabled, meta or credits", in: patchKey{}, out: keygate.APIKey{}},
	"POST /v1/keys/{id}/revoke": {id: "revokeKey", summary: "Revoke an API key at once", out: keygate.APIKey{}},
	"POST /v1/keys/{id}/rotate": {id: "rotateKey", summary: "Rotate an API key; the old one works until its grace period ends", in: keygate.RotateKeyRequest{}, optionalIn: true, out: keygate.KeyRotation{}, status: 201},
	"DELETE /v1/keys/{id}":      {id: "deleteKey", summary: "Delete an API key", status: 204},
	"POST /v1/keys/verify":      {id: "verifyKey", summary: "Whether a key may be used (for services outside the gateway); a bad key is a 200 with a code", in: keygate.VerifyRequest{}, out: keygate.VerifyResponse{}},
	"POST /v1/leaks":            {id: "reportLeaks", summary: "Report exposed keys (GitHub secret scanning format); live ones are revoked", in: []LeakReport{}, out: []LeakResult{}},
	"GET /v1/audit":             {id: "listAudit", summary: "The audit trail, oldest first", out: keygate.AuditEvent{}, list: true, query: []string{"target", "actor", "action", "since"}},
	"GET /v1/audit/chain":       {id: "auditChain", summary: "Audit entries in chain order (seq > after), for clients that verify the chain themselves", out: keygate.AuditEvent{}, list: true, query: []string{"after", "limit"}},
	"GET /v1/audit/head":        {id: "auditHead", summary: "The newest audit entry's seq and hash: keep it as an anchor", out: keygate.AuditHead{}},
	"GET /v1/audit/verify":      {id: "verifyAudit", summary: "Verify the audit chain; a broken chain is a 200 naming the first bad entry", out: auditchain.Report{}, query: []string{"anchor_seq", "anchor_hash"}},
	"GET /v1/audit/export":      {id: "exportAudit", summary: "Every audit entry as JSON lines (application/x-ndjson), in chain order"},

	"POST /v1/consumers/{consumer}/hmac-credentials":             {id: "createHMACCredential", summary: "Create an HMAC credential (secret shown once)", in: keygate.HMACCredentialRequest{}, out: keygate.IssuedHMACCredential{}, status: 201},
	"GET /v1/consumers/{consumer}/hmac-credentials":              {id: "listConsumerHMACCredentials", summary: "List a consumer's HMAC credentials", out: keygate.HMACCredential{}, list: true, query: []string{"weak"}},
	"GET /v1/consumers/{consumer}/hmac-credentials/{id}":         {id: "getHMACCredential", summary: "Get an HMAC credential (never its secret)", out: keygate.HMACCredential{}},
	"POST /v1/consumers/{consumer}/hmac-credentials/{id}/revoke": {id: "revokeHMACCredential", summary: "Revoke an HMAC credential", out: keygate.HMACCredential{}},
	"DELETE /v1/consumers/{consumer}/hmac-credentials/{id}":      {id: "deleteHMACCredential", summary: "Delete an HMAC credential", status: 204},
	"GET /v1/hmac-credentials":                                   {id: "listHMACCredentials", summary: "List HMAC credentials", out: keygate.HMACCredential{}, list: true, query: []string{"weak"}},

	"POST /v1/webhooks":                      {id: "createWebhook", summary: "Create a webhook (signing secret shown once)", in: keygate.WebhookRequest{}, out: keygate.IssuedWebhook{}, status: 201},
	"POST /v1/consumers/{consumer}/webhooks": {id: "createConsumerWebhook", summary: "Create a consumer's webhook", in: keygate.WebhookRequest{}, out: keygate.IssuedWebhook{}, status: 201},
	"GET /v1/webhooks":                       {id: "listWebhooks", summary: "List webhooks", out: keygate.Webhook{}, list: true, query: []string{"consumer"}},
	"GET /v1/webhooks/{id}":                  {id: "getWebhook", summary: "Get a webhook", out: keygate.Webhook{}},
	"PATCH /v1/webhooks/{id}":                {id: "updateWebhook", summary: "Change a webhook's url, events, enabled or description", in: keygate.WebhookPatch{}, out: keygate.Webhook{}},
	"DELETE /v1/webhooks/{id}":               {id: "deleteWebhook", summary: "Delete a webhook", status: 204},
	"GET /v1/webhooks/{id}/deliveries":       {id: "listWebhookDeliveries", summary: "A webhook's deliveries", out: keygate.WebhookDelivery{}, list: true, query: []string{"status"}},
	"POST /v1/webhooks/{id}/test":            {id: "testWebhook", summary: "Queue a test ping", out: keygate.WebhookDelivery{}, status: 202},

	"GET /v1/nodes":                         {id: "listNodes", summary: "The running nodes (seen within the last hour), the most recently started first", out: keygate.Node{}, list: true},
	"GET /v1/keyring":                       {id: "keyringStatus", summary: "The keyring's versions and what a rewrap still has to move", out: keyring.Status{}},
	"POST /v1/keyring/rotate":               {id: "rotateKeyring", summary: "Add a keyring version (admin only)", out: keyring.Status{}, status: 201},
	"POST /v1/keyring/rewrap":               {id: "rewrapKeyring", summary: "Move one batch of data keys to the current version (admin only)", in: rewrapRequest{}, optionalIn: true, out: rewrapResult{}},
	"DELETE /v1/keyring/versions/{version}": {id: "retireKeyringVersion", summary: "Retire a keyring version nothing uses (admin only)", status: 204},

	"POST /v1/routes/{route}/payload-key": {id: "setPayloadKey", summary: "Set a route's static payload encryption key (generated when left out; shown once)", in: keygate.PayloadKeyRequest{}, optionalIn: true, out: keygate.IssuedPayloadKey{}, status: 201},
	"GET /v1/payload-sessions":            {id: "listPayloadSessions", summary: "List payload encryption sessions", out: keygate.PayloadSession{}, list: true, query: []string{"consumer"}},
	"GET /v1/payload-sessions/{id}":       {id: "getPayloadSession", summary: "Get a payload encryption session", out: keygate.PayloadSession{}},
	"DELETE /v1/payload-sessions/{id}":    {id: "endPayloadSession", summary: "End a payload encryption session (the client's logout)", status: 204},

	"POST /v1/access-requests":              {id: "createAccessRequest", summary: "Request access (pickup token shown once)", in: keygate.AccessRequestInput{}, out: keygate.CreatedAccessRequest{}, status: 201},
	"GET /v1/access-requests":               {id: "listAccessRequests", summary: "List access requests", out: keygate.AccessRequest{}, list: true, query: []string{"status", "consumer"}},
	"GET /v1/access-requests/{id}":          {id: "getAccessRequest", summary: "Get an access request", out: keygate.AccessRequest{}},
	"POST /v1/access-requests/{id}/approve": {id: "approveAccessRequest", summary: "Approve an access request", in: keygate.AccessDecisionInput{}, optionalIn: true, out: keygate.AccessRequest{}},
	"POST /v1/access-requests/{id}/deny":    {id: "denyAccessRequest", summary: "Deny an access request", in: keygate.AccessDecisionInput{}, optionalIn: true, out: keygate.AccessRequest{}},
	"POST /v1/access-requests/{id}/pickup":  {id: "pickUpAccessRequest", summary: "Pick up an approved request's key, once (admin token or X-Pickup-Token)", out: keygate.AccessPickup{}},
	"POST /v1/access-rules":                 {id: "createAccessRule", summary: "Create an auto-approval rule", in: keygate.AccessRule{}, out: keygate.AccessRule{}, status: 201},
	"GET /v1/access-rules":                  {id: "listAccessRules", summary: "List access rules", out: keygate.AccessRule{}, list: true},
	"GET /v1/access-rules/{rule}":           {id: "getAccessRule", summary: "Get an access rule", out: keygate.AccessRule{}},
	"PATCH /v1/access-rules/{rule}":         {id: "updateAccessRule", summary: "Change an access rule", in: keygate.AccessRule{}, out: keygate.AccessRule{}},
	"DELETE /v1/access-rules/{rule}":        {id: "deleteAccessRule", summary: "Delete an access rule", status: 204},

	"POST /v1/plans":          {id: "createPlan", summary: "Create a plan", in: keygate.Plan{}, out: keygate.Plan{}, status: 201},
	"GET /v1/plans":           {id: "listPlans", summary: "List plans", out: keygate.Plan{}, list: true},
	"GET /v1/plans/{plan}":    {id: "getPlan", summary: "Get a plan by id or name", out: keygate.Plan{}},
	"PATCH /v1/plans/{plan}":  {id: "updatePlan", summary: "Change a plan's fields", in: keygate.Plan{}, out: keygate.Plan{}},
	"DELETE /v1/plans/{plan}": {id: "deletePlan", summary: "Delete a plan", status: 204},

	"POST /v1/permissions":                {id: "createPermission", summary: "Create a permission", in: keygate.Permission{}, out: keygate.Permission{}, status: 201},
	"GET /v1/permissions":                 {id: "listPermissions", summary: "List permissions", out: keygate.Permission{}, list: true},
	"GET /v1/permissions/{permission}":    {id: "getPermission", summary: "Get a permission by id or name", out: keygate.Permission{}},
	"PATCH /v1/permissions/{permission}":  {id: "updatePermission", summary: "Change a permission's description", in: keygate.Permission{}, out: keygate.Permission{}},
	"DELETE /v1/permissions/{permission}": {id: "deletePermission", summary: "Delete a permission no role, consumer or key holds", status: 204},
	"POST /v1/roles":                      {id: "createRole", summary: "Create a role", in: keygate.Role{}, out: keygate.Role{}, status: 201},
	"GET /v1/roles":                       {id: "listRoles", summary: "List roles", out: keygate.Role{}, list: true},
	"GET /v1/roles/{role}":                {id: "getRole", summary: "Get a role by id or name", out: keygate.Role{}},
	"PATCH /v1/roles/{role}":              {id: "updateRole", summary: "Change a role's description or permissions", in: keygate.Role{}, out: keygate.Role{}},
	"DELETE /v1/roles/{role}":             {id: "deleteRole", summary: "Delete a role no consumer or key holds", status: 204},
	"GET /v1/usage":                       {id: "usage", summary: "Usage summed per bucket, consumer, credential and route (format=csv: CSV)", out: usageResponse{}, query: []string{"consumer", "key", "route", "from", "to", "granularity", "format"}},

	"GET /v1/analytics/verifications": {id: "verificationAnalytics", summary: "Keys judged by the gateway and the verify API, counted per interval and outcome, consumer, key, service or source", out: verificationsResponse{}, query: []string{"group_by", "interval", "from", "to", "key", "consumer", "service", "source", "outcome"}},

	"POST /v1/consumers/{consumer}/oauth-clients": {id: "createOAuthClient", summary: "Register an OAuth client (secret shown once)", in: keygate.OAuthClientRequest{}, out: keygate.IssuedOAuthClient{}, status: 201},
	"GET /v1/consumers/{consumer}/oauth-clients":  {id: "listConsumerOAuthClients", summary: "List a consumer's OAuth clients", out: keygate.OAuthClient{}, list: true},
	"GET /v1/oauth-clients":                       {id: "listOAuthClients", summary: "List OAuth clients", out: keygate.OAuthClient{}, list: true},
	"GET /v1/oauth-clients/{id}":                  {id: "getOAuthClient", summary: "Get an OAuth client by id or client_id", out: keygate.OAuthClient{}},
	"POST /v1/oauth-clients/{id}/rotate-secret":   {id: "rotateOAuthClientSecret", summary: "Issue a new client secret (shown once)", in: keygate.RotateSecretRequest{}, optionalIn: true, out: keygate.IssuedOAuthClient{}},
	"POST /v1/oauth-clients/{id}/revoke":          {id: "revokeOAuthClient", summary: "Revoke an OAuth client", out: keygate.OAuthClient{}},
	"DELETE /v1/oauth-clients/{id}":               {id: "deleteOAuthClient", summary: "Delete an OAuth client", status: 204},
}

// registeredRoutes returns what Handler registers, over a throwaway store.
func registeredRoutes(tb testing.TB) []string {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), sqlitetest.Path(tb), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s := &Server{Store: db}
	s.Handler()
	return s.Routes()
}

func TestOpenAPIDocument(t *testing.T) {
	routes := registeredRoutes(t)
	for _, r := range routes {
		if _, ok := ops[r]; !ok {
			t.Errorf("route %s is not described: add it to ops in openapi_gen_test.go and run with -update", r)
		}
	}
	for r := range ops {
		if !slices.Contains(routes, r) {
			t.Errorf("ops describes %s, which is not registered", r)
		}
	}
	if t.Failed() {
		return
	}
	doc, err := generateOpenAPI(routes)
	if err != nil {
		t.Fatal(err)
	}
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(doc, openAPIDocument) {
		t.Errorf("openapi.json is stale: run go test ./adminapi -run TestOpenAPIDocument -update")
	}
}

var pathParams = regexp.MustCompile(`\{([^}]+)\}`)

func generateOpenAPI(routes []string) ([]byte, error) {
	g := &schemaGen{schemas: map[string]any{}, types: map[string]reflect.Type{}}
	g.schema(reflect.TypeFor[keygate.ErrorResponse]())
	errorResponse := map[string]any{"description": "An error: code, message and request id",
		"content": map[string]any{"application/json": map[string]any{"schema": ref("ErrorResponse")}}}

	paths := map[string]map[string]any{}
	for _, route := range routes {
		o := ops[route]
		method, pattern, _ := strings.Cut(route, " ")
		operation := map[string]any{"operationId": o.id, "summary": o.summary}
		var params []any
		for _, m := range pathParams.FindAllStringSubmatch(pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if o.list {
			params = append(params,
				map[string]any{"name": "size", "in": "query", "description": "page size (default 100, at most 1000)", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": keygate.MaxPageSize}},
				map[string]any{"name": "offset", "in": "query", "description": "the previous page's offset", "schema": map[string]any{"type": "string"}})
		}
		for _, q := range o.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			operation["parameters"] = params
		}
		if o.in != nil {
			operation["requestBody"] = map[string]any{"required": !o.optionalIn,
				"content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(o.in))}}}
		}
		status := o.status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		if o.out != nil {
			s := g.schema(reflect.TypeOf(o.out))
			if o.list {
				s = map[string]any{"type": "object", "properties": map[string]any{
					"data":   map[string]any{"type": "array", "items": s},
					"offset": map[string]any{"type": "string", "description": "give as offset for the next page; absent on the last"},
					"next":   map[string]any{"type": []string{"string", "null"}, "description": "the next page's path and query"},
				}}
			}
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": s}}
		}
		operation["responses"] = map[string]any{fmt.Sprint(status): ok, "default": errorResponse}
		if o.open {
			operation["security"] = []any{}
		} else {
			p, _ := EndpointPermission(method, pattern)
			var roles []string
			for _, role := range Roles() {
				if Allowed(role, method, pattern) {
					roles = append(roles, role)
				}
			}
			operation["x-keygate-permission"] = p
			operation["x-keygate-roles"] = roles
		}
		if paths[pattern] == nil {
			paths[pattern] = map[string]any{}
		}
		paths[pattern][strings.ToLower(method)] = operation
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "keygate admin API",
			"version": "1",
			"description": "The admin API of keygate. Every endpoint but GET /healthz needs an admin token " +
				"(Authorization: Bearer <token>) whose role allows it: x-keygate-roles lists the roles per operation " +
				"(admin: everything; operator: all but the keyring's changes and admin tokens; auditor: every GET; " +
				"verifier: POST /v1/keys/verify only). Generated from the route table by TestOpenAPIDocument.",
		},
		"security": []any{map[string]any{"adminToken": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"adminToken": map[string]any{"type": "http", "scheme": "bearer"}},
			"schemas":         g.schemas,
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// schemaGen turns Go types into JSON Schema, as encoding/json marshals
// them; named structs become components.
type schemaGen struct {
	schemas map[string]any
	types   map[string]reflect.Type
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	keyType  = reflect.TypeFor[apikey.Key]()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	case keyType:
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return nullable(g.schema(t.Elem()))
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name := componentName(t)
		if seen, ok := g.types[name]; ok && seen != t {
			panic(fmt.Sprintf("openapi: %v and %v both named %s", seen, t, name))
		} else if !ok {
			g.types[name] = t
			g.schemas[name] = nil // taken, for recursive types
			g.schemas[name] = g.object(t)
		}
		return ref(name)
	}
	return map[string]any{} // an interface: anything
}

// componentName names t's schema: its Go name, exported, with the package
// for the keyring's (Status means little on its own).
func componentName(t reflect.Type) string {
	name := strings.ToUpper(t.Name()[:1]) + t.Name()[1:]
	if path.Base(t.PkgPath()) == "keyring" {
		name = "Keyring" + name
	}
	return name
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for _, f := range jsonFields(t) {
		props[f.name] = g.schema(f.typ)
	}
	return map[string]any{"type": "object", "properties": props}
}

func nullable(s map[string]any) map[string]any {
	if typ, ok := s["type"].(string); ok {
		c := map[string]any{}
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []string{typ, "null"}
		return c
	}
	if _, ok := s["$ref"]; ok {
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	}
	return s
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields are the fields encoding/json writes for struct type t, by
// their JSON names, embedded structs' fields promoted.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, ft})
	}
	return out
}
