package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/keygate/keygate"
)

// CreateAdminToken creates an admin API token with a role; the result is
// the only place its secret is shown. Only an admin token may.
func (c *Client) CreateAdminToken(ctx context.Context, req keygate.AdminTokenRequest) (*keygate.NewAdminToken, error) {
	return call[keygate.NewAdminToken](ctx, c, http.MethodPost, "/v1/admin-tokens", req)
}

// AdminTokens lists the admin tokens (never their secrets), in creation order.
func (c *Client) AdminTokens(ctx context.Context, p keygate.Page) ([]*keygate.AdminToken, string, error) {
	return list[*keygate.AdminToken](ctx, c, "/v1/admin-tokens", p)
}

// DeleteAdminToken deletes the admin token with id; it stops working at once.
func (c *Client) DeleteAdminToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, at("admin-tokens", id), nil, nil)
}

// OpenAPI returns the admin API's OpenAPI 3.1 document; any token may.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var doc json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}
