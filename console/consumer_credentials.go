package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// Creating an HMAC credential or an OAuth client from a consumer's page,
// through adminapi.Server.CreateHMACCredential and CreateOAuthClient (the
// code behind the API's endpoints); the secret is shown once.

func (s *Server) createHMAC(w http.ResponseWriter, r *http.Request) error {
	req := keygate.HMACCredentialRequest{Username: strings.TrimSpace(r.PostForm.Get("username"))}
	if v := strings.TrimSpace(r.PostForm.Get("ttl_days")); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 1 || days > keygate.MaxKeyTTL/86400 {
			return s.renderConsumer(w, r, http.StatusBadRequest, &consumerData{
				HMACMessage: "Lifetime: a whole number of days from 1 to 3650, or empty for no expiry."})
		}
		ttl := days * 86400
		req.TTL = &ttl
	}
	c, err := s.cfg.Keys.CreateHMACCredential(r.Context(), r.PathValue("id"), req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderConsumer(w, r, status(code), &consumerData{HMACMessage: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	back := "/ui/consumers/" + c.Consumer.ID
	return s.showOnce(w, r, "HMAC credential created", &shownOnce{Heading: "HMAC credential created", What: "secret",
		Kept:  "keygate keeps it sealed, to check signatures, and never shows it again. Lost? Revoke the credential and create another.",
		Label: "Secret", Secret: c.Secret, Facts: []fact{{"Username", c.Username}},
		Hint: "The caller signs each request with it (Authorization: hmac username=…, or RFC 9421 Signature).",
		Back: back, BackLabel: "Consumer"})
}

func (s *Server) createOAuthClient(w http.ResponseWriter, r *http.Request) error {
	req := keygate.OAuthClientRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Scopes: strings.Fields(r.PostForm.Get("scopes"))}
	if v := strings.TrimSpace(r.PostForm.Get("token_lifetime")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s.renderConsumer(w, r, http.StatusBadRequest, &consumerData{OAuthMessage: "Token lifetime: a whole number of seconds, or empty for the default."})
		}
		req.TokenLifetime = &n
	}
	c, err := s.cfg.Keys.CreateOAuthClient(r.Context(), r.PathValue("id"), req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderConsumer(w, r, status(code), &consumerData{OAuthMessage: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	return s.showOnce(w, r, "OAuth client created", &shownOnce{Heading: "OAuth client created", What: "client secret",
		Kept:  "keygate keeps only a hash of it. Lost? Issue a new secret from the client's row.",
		Label: "Client secret", Secret: c.ClientSecret, Facts: []fact{{"Client id", c.ClientID}, {"Scopes", strings.Join(c.Scopes, " ")}},
		Hint: "The client gets access tokens with the client credentials grant, sending its id and this secret.",
		Back: "/ui/consumers/" + c.Consumer.ID, BackLabel: "Consumer"})
}
