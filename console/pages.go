package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// pageSize is how many rows a list page shows.
const pageSize = 25

// countCap bounds the rows the dashboard counts per kind: beyond it, it
// shows "10000+" rather than reading a large table at every visit.
const countCap = 10 * keygate.MaxPageSize

type count struct {
	Label string
	N     string
	Href  string
}

// countAll counts the rows list returns, up to countCap.
func countAll[T any](ctx context.Context, list func(context.Context, keygate.Page) ([]T, string, error)) (string, error) {
	n, after := 0, ""
	for n < countCap {
		rows, next, err := list(ctx, keygate.Page{After: after, Limit: keygate.MaxPageSize})
		if err != nil {
			return "", err
		}
		n += len(rows)
		if next == "" {
			return strconv.Itoa(n), nil
		}
		after = next
	}
	return strconv.Itoa(n) + "+", nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	ctx, st := r.Context(), s.cfg.Store
	kinds := []struct {
		label, href string
		count       func() (string, error)
	}{
		{"Services", "/ui/services", func() (string, error) { return countAll(ctx, st.ListServices) }},
		{"Routes", "/ui/routes", func() (string, error) {
			return countAll(ctx, func(ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
				return st.ListRoutes(ctx, keygate.RouteFilter{}, p)
			})
		}},
		{"Plans", "/ui/plans", func() (string, error) { return countAll(ctx, st.ListPlans) }},
		{"Consumers", "/ui/consumers", func() (string, error) { return countAll(ctx, st.ListConsumers) }},
		{"API keys", "", func() (string, error) {
			return countAll(ctx, func(ctx context.Context, p keygate.Page) ([]*keygate.APIKey, string, error) {
				return st.ListKeys(ctx, keygate.KeyFilter{}, p)
			})
		}},
		{"Pending access requests", "/ui/access", func() (string, error) {
			return countAll(ctx, func(ctx context.Context, p keygate.Page) ([]*keygate.AccessRequest, string, error) {
				return st.ListAccessRequests(ctx, keygate.AccessRequestFilter{Status: keygate.AccessPending}, p)
			})
		}},
	}
	counts := make([]count, 0, len(kinds))
	for _, k := range kinds {
		n, err := k.count()
		if err != nil {
			return err
		}
		counts = append(counts, count{k.label, n, k.href})
	}
	return s.render(w, r, http.StatusOK, "dashboard", sessionFrom(ctx), "Dashboard", counts)
}

// consumersData is the consumers page.
type consumersData struct {
	Query     string
	Consumers []*keygate.Consumer
	Next      string // the link to the next page; empty on the last
	Message   string
	Username  string
	CustomID  string
}

// searchScan bounds the rows one search page reads: the store has no
// search index yet, so a search reads consumers in order and keeps those
// that match; past this many it offers a link to search on.
const searchScan = 5000

func matches(c *keygate.Consumer, q string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	return c.ID == q || strings.Contains(strings.ToLower(c.Username), q) || strings.Contains(strings.ToLower(c.CustomID), q)
}

func (s *Server) consumers(w http.ResponseWriter, r *http.Request) error {
	d := &consumersData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if len(d.Query) > 200 {
		return keygate.Errorf(keygate.EINVALID, "Search: at most 200 characters.")
	}
	if err := s.listConsumers(r, d); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "consumers", sessionFrom(r.Context()), "Consumers", d)
}

func (s *Server) listConsumers(r *http.Request, d *consumersData) error {
	after := r.URL.Query().Get("after")
	limit := pageSize
	if d.Query != "" {
		limit = keygate.MaxPageSize
	}
	scanned := 0
	for {
		rows, next, err := s.cfg.Store.ListConsumers(r.Context(), keygate.Page{After: after, Limit: limit})
		if err != nil {
			return err
		}
		for i, c := range rows {
			scanned++
			if !matches(c, d.Query) {
				continue
			}
			d.Consumers = append(d.Consumers, c)
			if len(d.Consumers) == pageSize {
				if i < len(rows)-1 || next != "" {
					d.Next = nextLink("/ui/consumers", d.Query, c.ID)
				}
				return nil
			}
		}
		if next == "" {
			return nil
		}
		after = next
		if scanned >= searchScan {
			d.Next = nextLink("/ui/consumers", d.Query, after)
			return nil
		}
	}
}

func nextLink(path, q, after string) string {
	v := url.Values{"after": {after}}
	if q != "" {
		v.Set("q", q)
	}
	return path + "?" + v.Encode()
}

func (s *Server) createConsumer(w http.ResponseWriter, r *http.Request) error {
	c := keygate.NewConsumer()
	c.Username = strings.TrimSpace(r.PostForm.Get("username"))
	c.CustomID = strings.TrimSpace(r.PostForm.Get("custom_id"))
	err := c.Validate()
	if err == nil {
		err = s.cfg.Store.CreateConsumer(r.Context(), c)
	}
	switch code := keygate.ErrorCode(err); code {
	case "":
		http.Redirect(w, r, "/ui/consumers/"+url.PathEscape(c.ID), http.StatusSeeOther)
		return nil
	case keygate.EINVALID, keygate.ECONFLICT:
		// Show the form again, filled in, with what is wrong.
		d := &consumersData{Message: keygate.ErrorMessage(err), Username: c.Username, CustomID: c.CustomID}
		if err := s.listConsumers(r, d); err != nil {
			return err
		}
		return s.render(w, r, status(code), "consumers", sessionFrom(r.Context()), "Consumers", d)
	default:
		return err
	}
}

type consumerData struct {
	Consumer *keygate.Consumer
	Keys     []*keygate.APIKey
	Next     string
	Message  string
	KeyName  string
	// The second slice: the edit form, its plan choices, the consumer's
	// other credentials.
	EditMessage string
	Plans       []*keygate.Plan
	Plan        *keygate.Plan // the consumer's, nil for none
	HMAC        []*keygate.HMACCredential
	OAuth       []*keygate.OAuthClient
	// The third slice: creating HMAC credentials and OAuth clients here.
	HMACMessage, OAuthMessage string
}

func (s *Server) consumer(w http.ResponseWriter, r *http.Request) error {
	return s.renderConsumer(w, r, http.StatusOK, &consumerData{})
}

func (s *Server) renderConsumer(w http.ResponseWriter, r *http.Request, st int, d *consumerData) error {
	ctx := r.Context()
	c, err := s.cfg.Store.FindConsumer(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	d.Consumer = c
	keys, next, err := s.cfg.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: c.ID}, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d.Keys = keys
	if next != "" {
		d.Next = nextLink("/ui/consumers/"+url.PathEscape(c.ID), "", next)
	}
	if err := s.consumerExtras(ctx, d); err != nil {
		return err
	}
	return s.render(w, r, st, "consumer", sessionFrom(ctx), displayName(c), d)
}

func displayName(c *keygate.Consumer) string {
	if c.Username != "" {
		return c.Username
	}
	return c.CustomID
}

// createKey issues a key and shows it on the answer to this post, once:
// the page is not stored (no-store), and nothing else ever shows it.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	req := keygate.KeyRequest{Name: strings.TrimSpace(r.PostForm.Get("name"))}
	if v := strings.TrimSpace(r.PostForm.Get("ttl_days")); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > keygate.MaxKeyTTL/86400 {
			return s.renderConsumer(w, r, http.StatusBadRequest, &consumerData{KeyName: req.Name,
				Message: "Lifetime: a whole number of days from 1 to 3650, or empty for no expiry."})
		}
		ttl := days * 86400
		req.TTL = &ttl
	}
	k, err := s.cfg.Keys.IssueKey(r.Context(), r.PathValue("id"), req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderConsumer(w, r, status(code), &consumerData{KeyName: req.Name, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	c, err := s.cfg.Store.FindConsumer(r.Context(), k.Consumer.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusCreated, "key_created", sessionFrom(r.Context()), "Key created",
		map[string]any{"Key": k, "Consumer": c})
}

func (s *Server) revokePage(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Store.FindKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "revoke", sessionFrom(r.Context()), "Revoke key", map[string]any{"Key": k})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if reason := strings.TrimSpace(r.PostForm.Get("reason")); reason != "" {
		ctx = keygate.WithReason(ctx, keygate.CleanReason(reason))
	}
	k, err := s.cfg.Keys.RevokeKey(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/consumers/"+url.PathEscape(k.Consumer.ID), http.StatusSeeOther)
	return nil
}

type auditData struct {
	Target, Actor, Action string
	Events                []*keygate.AuditEvent
	Next                  string
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := &auditData{Target: strings.TrimSpace(q.Get("target")), Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action"))}
	events, next, err := s.cfg.Store.ListAudit(r.Context(), keygate.AuditFilter{TargetID: d.Target, Actor: d.Actor, Action: d.Action},
		keygate.Page{After: q.Get("after"), Limit: 50})
	if err != nil {
		return err
	}
	d.Events = events
	if next != "" {
		v := url.Values{"after": {next}}
		if d.Target != "" {
			v.Set("target", d.Target)
		}
		if d.Actor != "" {
			v.Set("actor", d.Actor)
		}
		if d.Action != "" {
			v.Set("action", d.Action)
		}
		d.Next = "/ui/audit?" + v.Encode()
	}
	return s.render(w, r, http.StatusOK, "audit", sessionFrom(r.Context()), "Audit trail", d)
}
