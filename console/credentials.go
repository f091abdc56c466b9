package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// HMAC credentials and OAuth 2.0 clients: lists over all consumers, revoke
// (with a reason for the audit trail) and, for OAuth clients, a new secret
// with an overlap. Through the store calls and the in-process action of
// the admin API's endpoints.

type credentialsData struct {
	Kind      string // hmac or oauth
	HMAC      []*keygate.HMACCredential
	OAuth     []*keygate.OAuthClient
	Consumers map[string]string // id → display name
	Next      string
}

// consumerNames names the consumers ids refer to.
func (s *Server) consumerNames(ctx context.Context, ids []string) (map[string]string, error) {
	names := map[string]string{}
	for _, id := range ids {
		if _, ok := names[id]; ok {
			continue
		}
		c, err := s.cfg.Store.FindConsumer(ctx, id)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			names[id] = id
			continue
		} else if err != nil {
			return nil, err
		}
		names[id] = displayName(c)
	}
	return names, nil
}

func (s *Server) hmacCredentials(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rows, next, err := s.cfg.Store.ListHMACCredentials(ctx, keygate.HMACCredentialFilter{}, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d := &credentialsData{Kind: "hmac", HMAC: rows}
	ids := make([]string, len(rows))
	for i, c := range rows {
		ids[i] = c.Consumer.ID
	}
	if d.Consumers, err = s.consumerNames(ctx, ids); err != nil {
		return err
	}
	if next != "" {
		d.Next = nextLink("/ui/credentials/hmac", "", next)
	}
	return s.render(w, r, http.StatusOK, "credentials", sessionFrom(ctx), "HMAC credentials", d)
}

func (s *Server) oauthClients(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rows, next, err := s.cfg.Store.ListOAuthClients(ctx, "", keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d := &credentialsData{Kind: "oauth", OAuth: rows}
	ids := make([]string, len(rows))
	for i, c := range rows {
		ids[i] = c.Consumer.ID
	}
	if d.Consumers, err = s.consumerNames(ctx, ids); err != nil {
		return err
	}
	if next != "" {
		d.Next = nextLink("/ui/credentials/oauth", "", next)
	}
	return s.render(w, r, http.StatusOK, "credentials", sessionFrom(ctx), "OAuth clients", d)
}

// confirmData is a confirmation page: what is about to happen, a reason
// field, one button.
type confirmData struct {
	Heading, Text, Action, Button, Back string
	Done                                string // set when there is nothing left to do
	Field                               string // "reason" or "overlap"
	Value                               string
	Message                             string
}

func withReason(r *http.Request) context.Context {
	ctx := r.Context()
	if reason := strings.TrimSpace(r.PostForm.Get("reason")); reason != "" {
		ctx = keygate.WithReason(ctx, keygate.CleanReason(reason))
	}
	return ctx
}

func (s *Server) revokeHMACPage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.Store.FindHMACCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &confirmData{Heading: "Revoke HMAC credential " + c.Username + "?", Field: "reason",
		Text:   "Requests signed with it are refused everywhere within a second. This cannot be undone.",
		Action: "/ui/hmac-credentials/" + c.ID + "/revoke", Button: "Revoke credential", Back: "/ui/credentials/hmac"}
	if c.Status != keygate.KeyActive {
		d.Done = "This credential is " + string(c.Status) + ": there is nothing to revoke."
	}
	return s.render(w, r, http.StatusOK, "confirm", sessionFrom(r.Context()), "Revoke HMAC credential", d)
}

func (s *Server) revokeHMAC(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.cfg.Store.RevokeHMACCredential(withReason(r), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/credentials/hmac", http.StatusSeeOther)
	return nil
}

func (s *Server) revokeOAuthPage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.Store.FindOAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &confirmData{Heading: "Revoke OAuth client " + c.ClientID + "?", Field: "reason",
		Text:   "It gets no more access tokens; the ones it holds are refused at the gateway. This cannot be undone.",
		Action: "/ui/oauth-clients/" + c.ID + "/revoke", Button: "Revoke client", Back: "/ui/credentials/oauth"}
	if c.Status != keygate.KeyActive {
		d.Done = "This client is " + string(c.Status) + ": there is nothing to revoke."
	}
	return s.render(w, r, http.StatusOK, "confirm", sessionFrom(r.Context()), "Revoke OAuth client", d)
}

func (s *Server) revokeOAuth(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.cfg.Store.RevokeOAuthClient(withReason(r), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/credentials/oauth", http.StatusSeeOther)
	return nil
}

func (s *Server) rotateOAuthData(c *keygate.OAuthClient) *confirmData {
	d := &confirmData{Heading: "New secret for OAuth client " + c.ClientID, Field: "overlap",
		Value:  strconv.Itoa(int(keygate.DefaultSecretOverlap.Hours())),
		Text:   "A new client secret is issued and shown once. The current one keeps working for the overlap, so the client can switch without an outage.",
		Action: "/ui/oauth-clients/" + c.ID + "/rotate", Button: "Issue new secret", Back: "/ui/credentials/oauth"}
	if c.Status != keygate.KeyActive {
		d.Done = "This client is " + string(c.Status) + ": it gets no new secret."
	}
	return d
}

func (s *Server) rotateOAuthPage(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.Store.FindOAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "confirm", sessionFrom(r.Context()), "New client secret", s.rotateOAuthData(c))
}

// rotateOAuth issues a new client secret and shows it on the answer to
// this post, once.
func (s *Server) rotateOAuth(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req keygate.RotateSecretRequest
	v := strings.TrimSpace(r.PostForm.Get("overlap"))
	bad := false
	if v != "" {
		h, err := strconv.Atoi(v)
		if err != nil || h < 0 || h > int(keygate.MaxSecretOverlap.Hours()) {
			bad = true
		} else {
			secs := h * 3600
			req.Overlap = &secs
		}
	}
	var issued *keygate.IssuedOAuthClient
	var err error
	if !bad {
		issued, err = s.cfg.Keys.RotateOAuthClientSecret(ctx, r.PathValue("id"), req)
	}
	if code := keygate.ErrorCode(err); bad || code == keygate.EINVALID || code == keygate.ECONFLICT {
		c, ferr := s.cfg.Store.FindOAuthClient(ctx, r.PathValue("id"))
		if ferr != nil {
			return ferr
		}
		d := s.rotateOAuthData(c)
		d.Value = v
		d.Message = "Overlap: a whole number of hours from 0 to " + strconv.Itoa(int(keygate.MaxSecretOverlap.Hours())) + "."
		st := http.StatusBadRequest
		if !bad {
			d.Message, st = keygate.ErrorMessage(err), status(code)
		}
		return s.render(w, r, st, "confirm", sessionFrom(ctx), "New client secret", d)
	} else if err != nil {
		return err
	}
	return s.render(w, r, http.StatusCreated, "secret_created", sessionFrom(ctx), "New client secret", issued)
}
