package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keygate/keygate"
)

// Webhooks

// CreateWebhook creates a webhook that hears every consumer's events, or,
// with consumer (id or username) set, that consumer's only. The result's
// Secret is the signing secret: it is returned this once and can never be
// read again.
func (c *Client) CreateWebhook(ctx context.Context, consumer string, req keygate.WebhookRequest) (*keygate.IssuedWebhook, error) {
	path := "/v1/webhooks"
	if consumer != "" {
		path = at("consumers", consumer) + "/webhooks"
	}
	return call[keygate.IssuedWebhook](ctx, c, http.MethodPost, path, req)
}

// Webhooks returns one page of webhooks: all, or with consumer set those of
// that consumer.
func (c *Client) Webhooks(ctx context.Context, consumer string, p keygate.Page) ([]*keygate.Webhook, string, error) {
	q := url.Values{}
	if consumer != "" {
		q.Set("consumer", consumer)
	}
	return listWithQuery[*keygate.Webhook](ctx, c, "/v1/webhooks", q, p)
}

// Webhook returns a webhook (never its secret).
func (c *Client) Webhook(ctx context.Context, id string) (*keygate.Webhook, error) {
	return call[keygate.Webhook](ctx, c, http.MethodGet, at("webhooks", id), nil)
}

// UpdateWebhook changes the fields patch sets.
func (c *Client) UpdateWebhook(ctx context.Context, id string, patch keygate.WebhookPatch) (*keygate.Webhook, error) {
	return call[keygate.Webhook](ctx, c, http.MethodPatch, at("webhooks", id), patch)
}

// DeleteWebhook deletes a webhook, its deliveries and its secret.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, at("webhooks", id), nil, nil)
}

// WebhookDeliveries returns one page of a webhook's deliveries, newest
// first; status ("" for any) narrows them.
func (c *Client) WebhookDeliveries(ctx context.Context, id string, status keygate.DeliveryStatus, p keygate.Page) ([]*keygate.WebhookDelivery, string, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", string(status))
	}
	return listWithQuery[*keygate.WebhookDelivery](ctx, c, at("webhooks", id)+"/deliveries", q, p)
}

// TestWebhook queues a webhook.test ping to the webhook (even a disabled
// one) and returns its delivery; WebhookDeliveries shows how it went.
func (c *Client) TestWebhook(ctx context.Context, id string) (*keygate.WebhookDelivery, error) {
	return call[keygate.WebhookDelivery](ctx, c, http.MethodPost, at("webhooks", id)+"/test", nil)
}

// listWithQuery is list with filters in q.
func listWithQuery[T any](ctx context.Context, c *Client, path string, q url.Values, p keygate.Page) ([]T, string, error) {
	if p.Limit > 0 {
		q.Set("size", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("offset", p.After)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	l, err := call[keygate.List[T]](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, "", err
	}
	return l.Data, l.Offset, nil
}
