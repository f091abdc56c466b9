package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// oauthClientRoutes adds the OAuth client endpoints to the route table.
func (s *Server) oauthClientRoutes(h func(string, handlerFunc)) {
	h("POST /v1/consumers/{consumer}/oauth-clients", s.createOAuthClient)
	h("GET /v1/consumers/{consumer}/oauth-clients", s.consumerOAuthClients)
	h("GET /v1/oauth-clients", s.allOAuthClients)
	h("GET /v1/oauth-clients/{id}", s.getOAuthClient)
	h("POST /v1/oauth-clients/{id}/rotate-secret", s.rotateOAuthClientSecret)
	h("POST /v1/oauth-clients/{id}/revoke", s.revokeOAuthClient)
	h("DELETE /v1/oauth-clients/{id}", s.deleteOAuthClient)
}

// Lengths of generated client ids (after the prefix) and secrets, in
// base62 characters: about 131 and 238 bits.
const (
	clientIDLen     = 22
	clientSecretLen = 40
)

// createOAuthClient registers a client. Its secret is generated here,
// stored only as a peppered hash and shown only in this response.
func (s *Server) createOAuthClient(w http.ResponseWriter, r *http.Request) error {
	var req keygate.OAuthClientRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	issued, err := s.CreateOAuthClient(r.Context(), r.PathValue("consumer"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, issued)
}

// CreateOAuthClient is POST /v1/consumers/{consumer}/oauth-clients for
// callers in this process (the console): consumer is an id or username.
// The answer holds the client secret: show it once.
func (s *Server) CreateOAuthClient(ctx context.Context, consumer string, req keygate.OAuthClientRequest) (*keygate.IssuedOAuthClient, error) {
	req.Normalize()
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if len(req.JWKS) > 0 {
		if err := validateJWKSKeys(req.JWKS); err != nil {
			return nil, err
		}
	}
	cons, err := s.Store.FindConsumer(ctx, consumer)
	if err != nil {
		return nil, err
	}
	secret, err := apikey.RandomBase62(clientSecretLen)
	if err != nil {
		return nil, err
	}
	id, err := apikey.RandomBase62(clientIDLen)
	if err != nil {
		return nil, err
	}
	c := &keygate.OAuthClient{ClientID: keygate.OAuthClientIDPrefix + id, Consumer: keygate.Ref{ID: cons.ID},
		Name: req.Name, Scopes: req.Scopes, TokenLifetime: *req.TokenLifetime, AuthMethods: req.AuthMethods,
		JWKS: compactJSON(req.JWKS), JWKSURL: req.JWKSURL}
	c.SecretHash = s.hashClientSecret(c.ClientID, secret)
	if err := s.Store.CreateOAuthClient(ctx, c); err != nil {
		return nil, err
	}
	return &keygate.IssuedOAuthClient{OAuthClient: *c, ClientSecret: secret}, nil
}

// hashClientSecret is the stored form of a client's secret.
func (s *Server) hashClientSecret(clientID, secret string) []byte {
	sum := s.Hasher.HashSecret(clientID, secret)
	return sum[:]
}

func (s *Server) consumerOAuthClients(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.FindConsumer(r.Context(), r.PathValue("consumer"))
	if err != nil {
		return err
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.OAuthClient, string, error) {
		return s.Store.ListOAuthClients(ctx, c.ID, p)
	})
}

func (s *Server) allOAuthClients(w http.ResponseWriter, r *http.Request) error {
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.OAuthClient, string, error) {
		return s.Store.ListOAuthClients(ctx, "", p)
	})
}

func (s *Server) getOAuthClient(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.FindOAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, c)
}

// rotateOAuthClientSecret issues a new secret, shown only in this response;
// the current one keeps working for the overlap the body asks for (default
// a day), so that its holders can switch.
func (s *Server) rotateOAuthClientSecret(w http.ResponseWriter, r *http.Request) error {
	var req keygate.RotateSecretRequest
	if err := decodeOptionalBody(w, r, &req); err != nil {
		return err
	}
	issued, err := s.RotateOAuthClientSecret(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, issued)
}

func (s *Server) revokeOAuthClient(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.RevokeOAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, c)
}

func (s *Server) deleteOAuthClient(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.DeleteOAuthClient(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validateJWKSKeys parses the keys of a JWK Set whose shape the domain
// checked: each must be a valid public signing key (EC, RSA of 2048 bits
// or more, or Ed25519), so that private_key_jwt assertions can be
// verified with it.
func validateJWKSKeys(b []byte) error {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return keygate.Errorf(keygate.EINVALID, "jwks: not a valid JWK Set (a key could not be parsed)")
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return keygate.Errorf(keygate.EINVALID, "jwks: keys[%d]: must be a valid public key", i)
		}
		switch key := k.Key.(type) {
		case *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PublicKey:
			if key.N.BitLen() < 2048 {
				return keygate.Errorf(keygate.EINVALID, "jwks: keys[%d]: an RSA key needs at least 2048 bits", i)
			}
		default:
			return keygate.Errorf(keygate.EINVALID, "jwks: keys[%d]: must be an EC, RSA or Ed25519 public key", i)
		}
	}
	return nil
}

// compactJSON returns b without insignificant white space (b is valid JSON).
func compactJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var v json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}
