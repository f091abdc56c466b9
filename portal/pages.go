package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// listLimit is how many rows of each kind the application page shows.
const listLimit = 100

func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	sess := sessionFrom(r.Context())
	var apps []*keygate.Consumer
	for _, id := range sess.Consumers {
		c, err := s.cfg.Store.FindConsumer(r.Context(), id)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			continue // deleted since sign-in
		} else if err != nil {
			return err
		}
		apps = append(apps, c)
	}
	return s.render(w, r, http.StatusOK, "home", sess, "Your applications", apps)
}

// consumer is the consumer {id} of the path, if the user acts for it.
func (s *Server) consumer(r *http.Request, id string) (*keygate.Consumer, error) {
	if !sessionFrom(r.Context()).owns(id) {
		return nil, notYours("application")
	}
	c, err := s.cfg.Store.FindConsumer(r.Context(), id)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil, notYours("application")
	}
	return c, err
}

// key is key id, if it belongs to a consumer the user acts for.
func (s *Server) key(r *http.Request, id string) (*keygate.APIKey, error) {
	k, err := s.cfg.Store.FindKey(r.Context(), id)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, notYours("key")
	case err != nil:
		return nil, err
	case !sessionFrom(r.Context()).owns(k.Consumer.ID):
		return nil, notYours("key")
	}
	return k, nil
}

type appData struct {
	Consumer *keygate.Consumer
	Keys     []*keygate.APIKey
	Requests []*keygate.AccessRequest
	Webhooks []*keygate.Webhook
	Services []*keygate.Service
	Plans    []*keygate.Plan
	Events   []string
	Message  string
	Notice   string
}

func (s *Server) app(w http.ResponseWriter, r *http.Request) error {
	return s.renderApp(w, r, http.StatusOK, &appData{Notice: noticeText(r.URL.Query().Get("done"))})
}

// noticeText is the line shown after an action that redirected here.
func noticeText(done string) string {
	switch done {
	case "revoked":
		return "The key is revoked: it stops working everywhere within seconds."
	case "requested":
		return "Your request is waiting for approval. When it is approved, pick up the key below (once)."
	case "approved":
		return "Your request was approved at once: pick up the key below (it is shown once)."
	case "plan-requested":
		return "Your plan change is waiting for approval; its state is under Access requests."
	case "plan-approved":
		return "Your plan change was approved at once: the new plan applies from the next request."
	case "webhook-deleted":
		return "The webhook is deleted."
	}
	return ""
}

func (s *Server) renderApp(w http.ResponseWriter, r *http.Request, st int, d *appData) error {
	ctx := r.Context()
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	d.Consumer = c
	page := keygate.Page{Limit: listLimit}
	if d.Keys, _, err = s.cfg.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: c.ID}, page); err != nil {
		return err
	}
	if d.Requests, _, err = s.cfg.Store.ListAccessRequests(ctx, keygate.AccessRequestFilter{ConsumerID: c.ID}, page); err != nil {
		return err
	}
	if d.Webhooks, _, err = s.cfg.Store.ListWebhooks(ctx, keygate.WebhookFilter{ConsumerID: c.ID}, page); err != nil {
		return err
	}
	if d.Services, _, err = s.cfg.Store.ListServices(ctx, page); err != nil {
		return err
	}
	if d.Plans, _, err = s.cfg.Store.ListPlans(ctx, page); err != nil {
		return err
	}
	d.Events = keygate.EventTypes
	return s.render(w, r, st, "app", sessionFrom(ctx), displayName(c), d)
}

func displayName(c *keygate.Consumer) string {
	if c.Username != "" {
		return c.Username
	}
	if c.CustomID != "" {
		return c.CustomID
	}
	return c.ID
}

// formError shows the application page again with what is wrong, for the
// errors a user can fix; others go to the error page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, err error) error {
	switch code := keygate.ErrorCode(err); code {
	case keygate.EINVALID, keygate.ECONFLICT:
		return s.renderApp(w, r, web.Status(code), &appData{Message: keygate.ErrorMessage(err)})
	}
	return err
}

// secretData is the page that shows a secret once.
type secretData struct {
	Heading  string
	Label    string
	Value    string
	Note     string
	Consumer *keygate.Consumer
}

func (s *Server) showSecret(w http.ResponseWriter, r *http.Request, consumerID string, d secretData) error {
	c, err := s.cfg.Store.FindConsumer(r.Context(), consumerID)
	if err != nil {
		return err
	}
	d.Consumer = c
	return s.render(w, r, http.StatusCreated, "secret", sessionFrom(r.Context()), d.Heading, d)
}

// createKey issues a key and shows it on the answer to this post, once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	req := keygate.KeyRequest{Name: strings.TrimSpace(r.PostForm.Get("name"))}
	if v := strings.TrimSpace(r.PostForm.Get("ttl_days")); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > keygate.MaxKeyTTL/86400 {
			return s.renderApp(w, r, http.StatusBadRequest, &appData{Message: "Lifetime: a whole number of days from 1 to 3650, or empty for no expiry."})
		}
		ttl := days * 86400
		req.TTL = &ttl
	}
	k, err := s.cfg.Actions.IssueKey(r.Context(), c.ID, req)
	if err != nil {
		return s.formError(w, r, err)
	}
	return s.showSecret(w, r, c.ID, secretData{Heading: "Key created", Label: keyLabel(&k.APIKey), Value: k.Key})
}

func keyLabel(k *keygate.APIKey) string {
	if k.Name != "" {
		return "API key “" + k.Name + "”"
	}
	return "API key"
}

// overlaps are the grace periods the rotate form offers, in hours.
var overlaps = map[string]int{"0": 0, "1": 3600, "24": 86400, "168": 7 * 86400, "720": 30 * 86400}

// rotateKey issues a key's successor, shown once; the old key keeps
// working for the chosen overlap.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.key(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	grace, ok := overlaps[r.PostForm.Get("overlap_hours")]
	if !ok {
		r.SetPathValue("id", k.Consumer.ID)
		return s.renderApp(w, r, http.StatusBadRequest, &appData{Message: "Overlap: choose one of the offered periods."})
	}
	rot, err := s.cfg.Actions.RotateKey(r.Context(), k.ID, keygate.RotateKeyRequest{GracePeriod: &grace})
	if err != nil {
		r.SetPathValue("id", k.Consumer.ID)
		return s.formError(w, r, err)
	}
	note := "The old key stopped working now."
	if grace > 0 {
		note = "The old key keeps working until " + web.When(rot.Previous.ExpiresAt) + ": switch your systems to this one before then."
	}
	return s.showSecret(w, r, k.Consumer.ID, secretData{Heading: "Key rotated", Label: keyLabel(&rot.Key.APIKey), Value: rot.Key.Key, Note: note})
}

// revokePage asks to confirm a revocation, which cannot be undone.
func (s *Server) revokePage(w http.ResponseWriter, r *http.Request) error {
	k, err := s.key(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "revoke", sessionFrom(r.Context()), "Revoke key", k)
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.key(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx := keygate.WithReason(r.Context(), "revoked in the portal")
	if _, err := s.cfg.Actions.RevokeKey(ctx, k.ID); err != nil {
		r.SetPathValue("id", k.Consumer.ID)
		return s.formError(w, r, err)
	}
	http.Redirect(w, r, "/portal/apps/"+url.PathEscape(k.Consumer.ID)+"?done=revoked", http.StatusSeeOther)
	return nil
}

// requestAccess asks for access to a service with a plan. The pickup token
// the API returns is not shown: the portal's session is what lets the user
// pick the key up.
func (s *Server) requestAccess(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	in := keygate.AccessRequestInput{Consumer: keygate.Ref{ID: c.ID}, Plan: strings.TrimSpace(r.PostForm.Get("plan")),
		Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	if svc := r.PostForm.Get("service"); svc != "" {
		in.Services = []string{svc}
	}
	created, err := s.cfg.Actions.RequestAccess(r.Context(), in, rolePrefix+sessionFrom(r.Context()).User)
	if err != nil {
		if keygate.ErrorCode(err) == keygate.ENOTFOUND { // a service that went away meanwhile
			err = keygate.Errorf(keygate.EINVALID, "%s", keygate.ErrorMessage(err))
		}
		return s.formError(w, r, err)
	}
	done := "requested"
	if created.Status == keygate.AccessApproved {
		done = "approved"
	}
	http.Redirect(w, r, "/portal/apps/"+url.PathEscape(c.ID)+"?done="+done+"#access", http.StatusSeeOther)
	return nil
}

// changePlan asks to move the application to another usage plan: an
// access request of kind plan_change, which the access rules may approve
// at once (then the plan applies from the next request).
func (s *Server) changePlan(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	plan := strings.TrimSpace(r.PostForm.Get("plan"))
	if plan == "" {
		return s.formError(w, r, keygate.Errorf(keygate.EINVALID, "plan: choose the plan to move to"))
	}
	in := keygate.AccessRequestInput{Kind: keygate.AccessKindPlanChange, Consumer: keygate.Ref{ID: c.ID}, Plan: plan,
		Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	created, err := s.cfg.Actions.RequestAccess(r.Context(), in, rolePrefix+sessionFrom(r.Context()).User)
	if err != nil {
		if keygate.ErrorCode(err) == keygate.ENOTFOUND { // a plan that went away meanwhile
			err = keygate.Errorf(keygate.EINVALID, "%s", keygate.ErrorMessage(err))
		}
		return s.formError(w, r, err)
	}
	done := "plan-requested"
	if created.Status == keygate.AccessApproved {
		done = "plan-approved"
	}
	http.Redirect(w, r, "/portal/apps/"+url.PathEscape(c.ID)+"?done="+done+"#access", http.StatusSeeOther)
	return nil
}

// pickUp hands over an approved request's key, once.
func (s *Server) pickUp(w http.ResponseWriter, r *http.Request) error {
	req, err := s.cfg.Store.FindAccessRequest(r.Context(), r.PathValue("id"))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return notYours("access request")
	case err != nil:
		return err
	case !sessionFrom(r.Context()).owns(req.Consumer.ID):
		return notYours("access request")
	}
	p, err := s.cfg.Actions.PickUpAccess(r.Context(), req.ID)
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		return keygate.Errorf(keygate.ECONFLICT, "This key was picked up already (or the request is not approved): it is shown only once. Lost? Revoke it and request again.")
	} else if err != nil {
		return err
	}
	return s.showSecret(w, r, req.Consumer.ID, secretData{Heading: "Access approved: your key", Label: keyLabel(&p.Key.APIKey), Value: p.Key.Key})
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	req := keygate.WebhookRequest{URL: strings.TrimSpace(r.PostForm.Get("url")), Events: r.PostForm["events"],
		Description: strings.TrimSpace(r.PostForm.Get("description"))}
	hook, err := s.cfg.Actions.CreateWebhook(r.Context(), c.ID, req)
	if err != nil {
		return s.formError(w, r, err)
	}
	return s.showSecret(w, r, c.ID, secretData{Heading: "Webhook registered", Label: "Signing secret of " + hook.URL, Value: hook.Secret,
		Note: "keygate signs each delivery with this secret (HMAC-SHA256); keep it in your receiver's configuration."})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	hook, err := s.cfg.Store.FindWebhook(ctx, r.PathValue("id"))
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return notYours("webhook")
	case err != nil:
		return err
	case hook.ConsumerID == "" || !sessionFrom(ctx).owns(hook.ConsumerID):
		return notYours("webhook")
	}
	if err := s.cfg.Store.DeleteWebhook(ctx, hook.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/portal/apps/"+url.PathEscape(hook.ConsumerID)+"?done=webhook-deleted", http.StatusSeeOther)
	return nil
}

// usageDays is how far back the usage page looks.
const usageDays = 30

type usageDay struct {
	Day      time.Time
	Allowed  int64
	Rejected int64
	// Bar geometry of the chart, in its viewBox units.
	X, Y, H, RY, RH int
}

type usageData struct {
	Consumer *keygate.Consumer
	Days     []usageDay
	Total    int64
	Plan     *keygate.Plan
	Today    int64
	Month    int64
	Width    int
}

// usage shows the consumer's requests per day over the last 30 days, and
// its plan's limits beside what is used of them.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(usageDays - 1))
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if month.Before(from) {
		from = month
	}
	rows, err := s.cfg.Store.Usage(ctx, keygate.UsageQuery{ConsumerID: c.ID, From: from, To: now.Add(time.Minute), Granularity: keygate.ByDay, Limit: 100000})
	if err != nil {
		return err
	}
	d := &usageData{Consumer: c}
	byDay := map[time.Time]*usageDay{}
	for _, row := range rows {
		day := row.Start.UTC().Truncate(24 * time.Hour)
		if !day.Before(month) {
			d.Month += row.Allowed
		}
		if day.Equal(today) {
			d.Today += row.Allowed
		}
		if u := byDay[day]; u != nil {
			u.Allowed += row.Allowed
			u.Rejected += row.Rejected
		} else {
			byDay[day] = &usageDay{Day: day, Allowed: row.Allowed, Rejected: row.Rejected}
		}
	}
	var peak int64
	for i := range usageDays {
		day := today.AddDate(0, 0, -(usageDays - 1 - i))
		u := usageDay{Day: day}
		if b := byDay[day]; b != nil {
			u = *b
		}
		d.Total += u.Allowed
		peak = max(peak, u.Allowed+u.Rejected)
		d.Days = append(d.Days, u)
	}
	// Bars 10 units wide in a 100-unit-high chart; the tallest day fills it.
	const height = 100
	for i := range d.Days {
		u := &d.Days[i]
		u.X = i * 12
		if peak > 0 {
			u.H = int(u.Allowed * height / peak)
			u.RH = int(u.Rejected * height / peak)
		}
		u.Y = height - u.H
		u.RY = u.Y - u.RH
	}
	d.Width = usageDays * 12
	if c.Plan != nil && c.Plan.ID != "" {
		if d.Plan, err = s.cfg.Store.FindPlan(ctx, c.Plan.ID); err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "usage", sessionFrom(ctx), "Usage of "+displayName(c), d)
}
