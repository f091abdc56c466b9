package client

import (
	"context"
	"net/http"

	"github.com/keygate/keygate"
)

// CreateOAuthClient registers an OAuth client for consumer (an id or a
// username); the result is the only place its secret is shown, until a
// rotation issues a new one.
func (c *Client) CreateOAuthClient(ctx context.Context, consumer string, req keygate.OAuthClientRequest) (*keygate.IssuedOAuthClient, error) {
	return call[keygate.IssuedOAuthClient](ctx, c, http.MethodPost, at("consumers", consumer)+"/oauth-clients", req)
}

// OAuthClients lists the OAuth clients of consumer, or every consumer's
// when consumer is empty; never their secrets.
func (c *Client) OAuthClients(ctx context.Context, consumer string, p keygate.Page) ([]*keygate.OAuthClient, string, error) {
	if consumer == "" {
		return list[*keygate.OAuthClient](ctx, c, "/v1/oauth-clients", p)
	}
	return list[*keygate.OAuthClient](ctx, c, at("consumers", consumer)+"/oauth-clients", p)
}

// OAuthClient returns a client by id or client_id.
func (c *Client) OAuthClient(ctx context.Context, id string) (*keygate.OAuthClient, error) {
	return call[keygate.OAuthClient](ctx, c, http.MethodGet, at("oauth-clients", id), nil)
}

// RotateOAuthClientSecret issues a new secret (shown once); the current one
// works for overlap more seconds (nil: a day; 0: it stops at once).
func (c *Client) RotateOAuthClientSecret(ctx context.Context, id string, overlap *int) (*keygate.IssuedOAuthClient, error) {
	return call[keygate.IssuedOAuthClient](ctx, c, http.MethodPost, at("oauth-clients", id)+"/rotate-secret", keygate.RotateSecretRequest{Overlap: overlap})
}

// RevokeOAuthClient revokes a client at once, every secret of it included.
func (c *Client) RevokeOAuthClient(ctx context.Context, id string) (*keygate.OAuthClient, error) {
	return call[keygate.OAuthClient](ctx, c, http.MethodPost, at("oauth-clients", id)+"/revoke", nil)
}

// DeleteOAuthClient deletes a client.
func (c *Client) DeleteOAuthClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, at("oauth-clients", id), nil, nil)
}
