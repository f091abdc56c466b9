package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// Webhooks, global and per consumer: list, create (the signing secret shown
// once), edit, enable or disable, delete, and each one's deliveries.
// Creating goes through adminapi.Server.CreateWebhook (the code behind
// POST /v1/webhooks), the rest through the store calls its handlers make.

type webhooksData struct {
	Hooks     []*keygate.Webhook
	Consumers map[string]string // id → display name
	Consumer  *keygate.Consumer // the filter; nil: every webhook
	Events    []string          // every event type, for the form
	Form      keygate.WebhookRequest
	Message   string
	Next      string
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request) error {
	return s.renderWebhooks(w, r, http.StatusOK, &webhooksData{})
}

func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, st int, d *webhooksData) error {
	ctx := r.Context()
	var f keygate.WebhookFilter
	if ref := r.URL.Query().Get("consumer"); ref != "" {
		c, err := s.cfg.Store.FindConsumer(ctx, ref)
		if err != nil {
			return err
		}
		d.Consumer, f.ConsumerID = c, c.ID
	}
	hooks, next, err := s.cfg.Store.ListWebhooks(ctx, f, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d.Hooks, d.Events = hooks, keygate.EventTypes
	var ids []string
	for _, h := range hooks {
		if h.ConsumerID != "" {
			ids = append(ids, h.ConsumerID)
		}
	}
	if d.Consumers, err = s.consumerNames(ctx, ids); err != nil {
		return err
	}
	if next != "" {
		q := url.Values{}
		if d.Consumer != nil {
			q.Set("consumer", d.Consumer.ID)
		}
		q.Set("after", next)
		d.Next = "/ui/webhooks?" + q.Encode()
	}
	return s.render(w, r, st, "webhooks", sessionFrom(ctx), "Webhooks", d)
}

func webhookForm(form url.Values) keygate.WebhookRequest {
	return keygate.WebhookRequest{URL: strings.TrimSpace(form.Get("url")), Events: form["events"],
		Description: strings.TrimSpace(form.Get("description"))}
}

// createWebhook creates a global webhook, or one of the consumer the form
// names, and shows its signing secret once.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	req := webhookForm(r.PostForm)
	consumer := strings.TrimSpace(r.PostForm.Get("consumer"))
	hook, err := s.cfg.Keys.CreateWebhook(r.Context(), consumer, req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ENOTFOUND && consumer != "" {
		if consumer != "" && code == keygate.EINVALID {
			r.URL.RawQuery = url.Values{"consumer": {consumer}}.Encode()
		}
		return s.renderWebhooks(w, r, status(code), &webhooksData{Message: keygate.ErrorMessage(err), Form: req})
	} else if err != nil {
		return err
	}
	return s.showOnce(w, r, "Webhook created", &shownOnce{Heading: "Webhook created", What: "signing secret",
		Kept:  "keygate keeps it sealed and uses it only to sign deliveries. Lost? Delete the webhook and create another.",
		Label: "Signing secret", Secret: hook.Secret, Facts: []fact{{"URL", hook.URL}, {"Events", strings.Join(hook.Events, ", ")}},
		Hint: "Each delivery carries a signature over its body made with this secret: check it before trusting a delivery.",
		Back: "/ui/webhooks", BackLabel: "Webhooks", Done: "/ui/webhooks/" + hook.ID})
}

type webhookData struct {
	Hook       *keygate.Webhook
	Consumer   string // display name; "" for a global webhook
	Events     []string
	Deliveries []*keygate.WebhookDelivery
	Next       string
	Message    string
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.cfg.Store.FindWebhook(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.renderWebhook(w, r, http.StatusOK, &webhookData{Hook: hook})
}

func (s *Server) renderWebhook(w http.ResponseWriter, r *http.Request, st int, d *webhookData) error {
	ctx := r.Context()
	d.Events = keygate.EventTypes
	if d.Hook.ConsumerID != "" {
		names, err := s.consumerNames(ctx, []string{d.Hook.ConsumerID})
		if err != nil {
			return err
		}
		d.Consumer = names[d.Hook.ConsumerID]
	}
	f := keygate.WebhookDeliveryFilter{WebhookID: d.Hook.ID}
	ds, next, err := s.cfg.Store.ListWebhookDeliveries(ctx, f, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d.Deliveries = ds
	if next != "" {
		d.Next = nextLink("/ui/webhooks/"+d.Hook.ID, "", next)
	}
	return s.render(w, r, st, "webhook", sessionFrom(ctx), "Webhook", d)
}

// updateWebhook saves the edit form (URL, events, description, enabled), or
// with only "enabled" in the form switches the webhook on or off.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var patch keygate.WebhookPatch
	enabled := r.PostForm.Get("enabled") == "on" || r.PostForm.Get("enabled") == "true"
	patch.Enabled = &enabled
	if r.PostForm.Get("toggle") == "" {
		req := webhookForm(r.PostForm)
		patch.URL, patch.Events, patch.Description = &req.URL, &req.Events, &req.Description
	}
	var tried *keygate.Webhook
	_, err := s.cfg.Store.UpdateWebhook(r.Context(), r.PathValue("id"), func(h *keygate.Webhook) error {
		tried = h
		return patch.Apply(h)
	})
	if code := keygate.ErrorCode(err); code == keygate.EINVALID && tried != nil {
		return s.renderWebhook(w, r, status(code), &webhookData{Hook: tried, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/webhooks/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
	return nil
}

// pingWebhook queues a webhook.test delivery; the page's deliveries show
// how it went.
func (s *Server) pingWebhook(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.cfg.Keys.PingWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/webhooks/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Store.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/webhooks", http.StatusSeeOther)
	return nil
}

// has says whether list holds v (templates: the events' checkboxes).
func has(list []string, v string) bool { return slices.Contains(list, v) }

// dict builds a map from name, value pairs, to hand a shared template
// several values.
func dict(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}
