package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
)

// createHMACCredential issues an HMAC credential. The secret is sealed by the
// keyring before it reaches the store and is shown only in this response.
func (s *Server) createHMACCredential(w http.ResponseWriter, r *http.Request) error {
	var req keygate.HMACCredentialRequest
	if err := decodeWithExpiry(w, r, &req); err != nil {
		return err
	}
	issued, err := s.CreateHMACCredential(r.Context(), r.PathValue("consumer"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, issued)
}

// CreateHMACCredential is POST /v1/consumers/{consumer}/hmac-credentials
// for callers in this process (the console): consumer is an id or
// username; a secret not given is generated (32 random bytes). The answer
// holds the secret: show it once.
func (s *Server) CreateHMACCredential(ctx context.Context, consumer string, req keygate.HMACCredentialRequest) (*keygate.IssuedHMACCredential, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	expires, err := req.Expiry(s.now())
	if err != nil {
		return nil, err
	}
	secret := req.Secret
	if secret == "" {
		b := make([]byte, 32)
		rand.Read(b)
		secret = base64.RawURLEncoding.EncodeToString(b)
	}
	cons, err := s.Store.FindConsumer(ctx, consumer)
	if err != nil {
		return nil, err
	}
	c := &keygate.HMACCredential{Consumer: keygate.Ref{ID: cons.ID}, Username: req.Username, Tags: orEmpty(req.Tags), ExpiresAt: expires,
		Weak: req.Weak()}
	err = s.Store.CreateHMACCredential(ctx, c, func(id string) (*keygate.Sealed, error) {
		return s.Keyring.Ring.Seal(keygate.SealedHMACSecret, id, []byte(secret))
	})
	if err != nil {
		return nil, err
	}
	return &keygate.IssuedHMACCredential{HMACCredential: *c, Secret: secret}, nil
}

func (s *Server) consumerHMACCredentials(w http.ResponseWriter, r *http.Request) error {
	f, err := hmacFilter(r)
	if err != nil {
		return err
	}
	c, err := s.Store.FindConsumer(r.Context(), r.PathValue("consumer"))
	if err != nil {
		return err
	}
	f.ConsumerID = c.ID
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
		return s.Store.ListHMACCredentials(ctx, f, p)
	})
}

func (s *Server) allHMACCredentials(w http.ResponseWriter, r *http.Request) error {
	f, err := hmacFilter(r)
	if err != nil {
		return err
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
		return s.Store.ListHMACCredentials(ctx, f, p)
	})
}

// hmacFilter reads ?weak=true|false: only the weak credentials (imported
// with a short secret), or only the others.
func hmacFilter(r *http.Request) (keygate.HMACCredentialFilter, error) {
	var f keygate.HMACCredentialFilter
	if q := r.URL.Query(); q.Has("weak") {
		weak, err := strconv.ParseBool(q.Get("weak"))
		if err != nil {
			return f, keygate.Errorf(keygate.EINVALID, "weak: must be true or false")
		}
		f.Weak = &weak
	}
	return f, nil
}

// consumerHMACCredential finds credential {id} of consumer {consumer}; one
// of another consumer is not found, so a path cannot reach across consumers.
func (s *Server) consumerHMACCredential(r *http.Request) (*keygate.HMACCredential, error) {
	c, err := s.Store.FindConsumer(r.Context(), r.PathValue("consumer"))
	if err != nil {
		return nil, err
	}
	cred, err := s.Store.FindHMACCredential(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if cred.Consumer.ID != c.ID {
		return nil, keygate.Errorf(keygate.ENOTFOUND, "hmac credential %s not found for consumer %s", r.PathValue("id"), r.PathValue("consumer"))
	}
	return cred, nil
}

func (s *Server) getHMACCredential(w http.ResponseWriter, r *http.Request) error {
	cred, err := s.consumerHMACCredential(r)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, cred)
}

func (s *Server) revokeHMACCredential(w http.ResponseWriter, r *http.Request) error {
	cred, err := s.consumerHMACCredential(r)
	if err != nil {
		return err
	}
	if cred, err = s.Store.RevokeHMACCredential(r.Context(), cred.ID); err != nil {
		return err
	}
	return reply(w, http.StatusOK, cred)
}

func (s *Server) deleteHMACCredential(w http.ResponseWriter, r *http.Request) error {
	cred, err := s.consumerHMACCredential(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteHMACCredential(r.Context(), cred.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
