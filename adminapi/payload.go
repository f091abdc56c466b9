package adminapi

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sessioncrypto"
)

// payloadRoutes are the admin side of payload encryption: a route's static
// key, and the sessions clients started.
func (s *Server) payloadRoutes(h func(string, handlerFunc)) {
	h("POST /v1/routes/{route}/payload-key", s.setPayloadKey)
	h("GET /v1/payload-sessions", s.listPayloadSessions)
	h("GET /v1/payload-sessions/{id}", get("id", s.findPayloadSession))
	h("DELETE /v1/payload-sessions/{id}", s.endPayloadSession)
}

// setPayloadKey generates or takes a route's static key and stores it
// sealed by the keyring. The route is touched (updated_at), so that every
// node drops the key it held.
func (s *Server) setPayloadKey(w http.ResponseWriter, r *http.Request) error {
	var req keygate.PayloadKeyRequest
	if err := decodeOptionalBody(w, r, &req); err != nil {
		return err
	}
	key := sessioncrypto.GenerateKey()
	if req.Key != "" {
		b, err := base64.StdEncoding.DecodeString(req.Key)
		if err != nil || len(b) != sessioncrypto.KeySize {
			return keygate.Errorf(keygate.EINVALID, "key: must be the standard base64 of 32 bytes (an AES-256 key), or left out to have one generated")
		}
		key = b
	}
	route, err := s.Store.FindRoute(r.Context(), r.PathValue("route"))
	if err != nil {
		return err
	}
	sealed, err := s.Keyring.Ring.Seal(keygate.SealedPayloadStaticKey, route.ID, key)
	if err != nil {
		return err
	}
	if err := s.Store.PutSecret(r.Context(), sealed); err != nil {
		return err
	}
	ctx := keygate.WithReason(r.Context(), "payload encryption static key set")
	if _, err := s.Store.UpdateRoute(ctx, route.ID, func(*keygate.Route) error { return nil }); err != nil {
		return err
	}
	return reply(w, http.StatusCreated, keygate.IssuedPayloadKey{Route: route.ID, Key: base64.StdEncoding.EncodeToString(key)})
}

func (s *Server) findPayloadSession(ctx context.Context, id string) (*keygate.PayloadSession, error) {
	ps, err := s.Store.FindPayloadSession(ctx, id)
	if ps != nil {
		ps.Key = nil
	}
	return ps, err
}

func (s *Server) listPayloadSessions(w http.ResponseWriter, r *http.Request) error {
	consumerID := ""
	if ref := r.URL.Query().Get("consumer"); ref != "" {
		c, err := s.Store.FindConsumer(r.Context(), ref)
		if err != nil {
			return err
		}
		consumerID = c.ID
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.PayloadSession, string, error) {
		return s.Store.ListPayloadSessions(ctx, consumerID, p)
	})
}

// endPayloadSession ends a session for its client (an admin's logout).
func (s *Server) endPayloadSession(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.findPayloadSession(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Store.DeletePayloadSession(r.Context(), ps.ID); err != nil {
		return err
	}
	actor, _ := keygate.Audit(r.Context())
	s.publish(r.Context(), keygate.EventPayloadSessionEnded, ps.Consumer.ID, ps.EventData(actor))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
