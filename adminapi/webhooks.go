package adminapi

import (
	"context"
	"net/http"

	"github.com/keygate/keygate"
)

// webhookRoutes registers the webhook endpoints; Handler calls it with its
// h. A webhook's secret is generated here, sealed by the keyring before it
// reaches the store, and shown only in the response that creates it.
func (s *Server) webhookRoutes(h func(pattern string, fn handlerFunc)) {
	h("POST /v1/webhooks", s.createWebhook)
	h("POST /v1/consumers/{consumer}/webhooks", s.createWebhook)
	h("GET /v1/webhooks", s.listWebhooks)
	h("GET /v1/webhooks/{id}", s.getWebhook)
	h("PATCH /v1/webhooks/{id}", s.updateWebhook)
	h("DELETE /v1/webhooks/{id}", s.deleteWebhook)
	h("GET /v1/webhooks/{id}/deliveries", s.webhookDeliveries)
	h("POST /v1/webhooks/{id}/test", s.testWebhook)
}

// createWebhook creates a global webhook, or one of {consumer}
// (CreateWebhook).
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var req keygate.WebhookRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	issued, err := s.CreateWebhook(r.Context(), r.PathValue("consumer"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, issued)
}

// CreateWebhook is POST /v1/webhooks (consumer "") and
// POST /v1/consumers/{consumer}/webhooks (an id or username) for callers in
// this process (the console). The answer holds the signing secret: show it
// once.
func (s *Server) CreateWebhook(ctx context.Context, consumer string, req keygate.WebhookRequest) (*keygate.IssuedWebhook, error) {
	consumerID := ""
	if consumer != "" {
		c, err := s.Store.FindConsumer(ctx, consumer)
		if err != nil {
			return nil, err
		}
		consumerID = c.ID
	}
	hook := req.Webhook(consumerID)
	if err := hook.Validate(); err != nil {
		return nil, err
	}
	secret := keygate.NewWebhookSecret()
	err := s.Store.CreateWebhook(ctx, hook, func(id string) (*keygate.Sealed, error) {
		return s.Keyring.Ring.Seal(keygate.SealedWebhookSecret, id, []byte(secret))
	})
	if err != nil {
		return nil, err
	}
	return &keygate.IssuedWebhook{Webhook: *hook, Secret: secret}, nil
}

// listWebhooks lists every webhook, or with ?consumer= (id or username)
// those of one consumer.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	var f keygate.WebhookFilter
	if ref := r.URL.Query().Get("consumer"); ref != "" {
		c, err := s.Store.FindConsumer(r.Context(), ref)
		if err != nil {
			return err
		}
		f.ConsumerID = c.ID
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.Webhook, string, error) {
		return s.Store.ListWebhooks(ctx, f, p)
	})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.Store.FindWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, hook)
}

// updateWebhook changes url, events, enabled and description; the patch is
// applied inside the store's transaction, so a concurrent change is never
// lost. Neither the consumer nor the secret can be changed.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var patch keygate.WebhookPatch
	if err := decodeBody(w, r, &patch); err != nil {
		return err
	}
	hook, err := s.Store.UpdateWebhook(r.Context(), r.PathValue("id"), patch.Apply)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, hook)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// webhookDeliveries lists a webhook's deliveries, newest first;
// ?status=pending|delivered|failed narrows them.
func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.Store.FindWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f := keygate.WebhookDeliveryFilter{WebhookID: hook.ID, Status: keygate.DeliveryStatus(r.URL.Query().Get("status"))}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.WebhookDelivery, string, error) {
		return s.Store.ListWebhookDeliveries(ctx, f, p)
	})
}

// testWebhook queues a webhook.test ping to this webhook alone, even when it
// is disabled, and answers 202 with the delivery: GET .../deliveries shows
// how it went.
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	d, err := s.PingWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusAccepted, d)
}

// PingWebhook is POST /v1/webhooks/{id}/test for callers in this process
// (the console): it queues a webhook.test event to this webhook alone.
func (s *Server) PingWebhook(ctx context.Context, id string) (*keygate.WebhookDelivery, error) {
	hook, err := s.Store.FindWebhook(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &keygate.Event{Type: keygate.EventWebhookTest, ConsumerID: hook.ConsumerID,
		Data: map[string]any{"webhook_id": hook.ID, "message": "a test ping from keygate"}}
	d, err := s.Store.EnqueueWebhookEvent(ctx, hook.ID, e)
	if err != nil {
		return nil, err
	}
	// The dispatcher (when it is what Events publishes to) sends it now
	// rather than at its next poll.
	if waker, ok := s.Events.(interface{ Wake() }); ok {
		waker.Wake()
	}
	return d, nil
}
