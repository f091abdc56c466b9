package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
)

// consumerExtras fills in what the consumer page shows beyond its keys:
// its plan and the plans to choose from, its HMAC credentials and OAuth
// clients (the first page of each).
func (s *Server) consumerExtras(ctx context.Context, d *consumerData) error {
	c := d.Consumer
	var err error
	if d.Plans, _, err = s.cfg.Store.ListPlans(ctx, keygate.Page{Limit: keygate.MaxPageSize}); err != nil {
		return err
	}
	if c.Plan != nil && c.Plan.ID != "" {
		for _, p := range d.Plans {
			if p.ID == c.Plan.ID {
				d.Plan = p
			}
		}
		if d.Plan == nil { // beyond the first page of plans
			if d.Plan, err = s.cfg.Store.FindPlan(ctx, c.Plan.ID); err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
				return err
			}
			if d.Plan != nil {
				d.Plans = append(d.Plans, d.Plan)
			}
		}
	}
	if d.HMAC, _, err = s.cfg.Store.ListHMACCredentials(ctx, keygate.HMACCredentialFilter{ConsumerID: c.ID}, keygate.Page{Limit: pageSize}); err != nil {
		return err
	}
	d.OAuth, _, err = s.cfg.Store.ListOAuthClients(ctx, c.ID, keygate.Page{Limit: pageSize})
	return err
}

// updateConsumer saves the edit form: names, groups, plan, tags. Rotation
// policy and public key stay as they are (the API and CLI set them).
func (s *Server) updateConsumer(w http.ResponseWriter, r *http.Request) error {
	f := r.PostForm
	var tried *keygate.Consumer
	c, err := s.cfg.Store.UpdateConsumer(r.Context(), r.PathValue("id"), func(c *keygate.Consumer) error {
		tried = c
		c.Username = strings.TrimSpace(f.Get("username"))
		c.CustomID = strings.TrimSpace(f.Get("custom_id"))
		c.Groups = splitList(f.Get("groups"))
		c.Tags = splitList(f.Get("tags"))
		c.Plan = nil
		if p := strings.TrimSpace(f.Get("plan")); p != "" {
			c.Plan = &keygate.Ref{ID: p}
		}
		return c.Validate()
	})
	if code := keygate.ErrorCode(err); tried != nil && (code == keygate.EINVALID || code == keygate.ECONFLICT || code == keygate.ENOTFOUND) {
		st := status(code)
		if code == keygate.ENOTFOUND { // the plan the form named: the consumer was found
			st = http.StatusBadRequest
		}
		return s.renderConsumerAs(w, r, st, tried, &consumerData{EditMessage: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/consumers/"+url.PathEscape(c.ID), http.StatusSeeOther)
	return nil
}

// renderConsumerAs renders the consumer page for c as the form left it.
func (s *Server) renderConsumerAs(w http.ResponseWriter, r *http.Request, st int, c *keygate.Consumer, d *consumerData) error {
	ctx := r.Context()
	d.Consumer = c
	keys, _, err := s.cfg.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: c.ID}, keygate.Page{Limit: pageSize})
	if err != nil {
		return err
	}
	d.Keys = keys
	if err := s.consumerExtras(ctx, d); err != nil {
		return err
	}
	return s.render(w, r, st, "consumer", sessionFrom(ctx), displayName(c), d)
}

// deleteConsumer deletes a consumer with its credentials, when the form
// repeats its username (or custom id): a slip of the finger must not take
// a partner's access away.
func (s *Server) deleteConsumer(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := s.cfg.Store.FindConsumer(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != displayName(c) {
		return s.renderConsumerAs(w, r, http.StatusBadRequest, c, &consumerData{
			EditMessage: "To delete this consumer, type its name (" + displayName(c) + ") in the box."})
	}
	if err := s.cfg.Store.DeleteConsumer(ctx, c.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/consumers", http.StatusSeeOther)
	return nil
}
