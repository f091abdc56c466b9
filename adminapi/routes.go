package adminapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/keygate/keygate"
)

func (s *Server) createRoute(w http.ResponseWriter, r *http.Request) error {
	rt := keygate.NewRoute()
	if err := decodeBody(w, r, rt); err != nil {
		return err
	}
	if err := rt.Validate(); err != nil {
		return err
	}
	if err := s.Store.CreateRoute(r.Context(), rt); err != nil {
		return badService(err) // the only thing CreateRoute can fail to find
	}
	return reply(w, http.StatusCreated, rt)
}

func (s *Server) updateRoute(w http.ResponseWriter, r *http.Request) error {
	body, fields, err := readBody(w, r)
	if err != nil {
		return err
	}
	found := false
	rt, err := s.Store.UpdateRoute(r.Context(), r.PathValue("route"), func(rt *keygate.Route) error {
		found = true
		clearNulls(rt, fields)
		// Nested objects are replaced as a whole: decoding into a non-nil
		// pointer would merge the patch into the old value.
		if _, ok := fields["key_auth"]; ok {
			rt.KeyAuth = nil
		}
		if _, ok := fields["acl"]; ok {
			rt.ACL = nil
		}
		if err := decode(body, rt); err != nil {
			return err
		}
		return rt.Validate()
	})
	if err != nil && found {
		return badService(err) // the route exists, so it was the service that was not found
	}
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, rt)
}

// badService reports a route body's unknown service as the body's fault
// (400), not as a missing resource at the URL (404).
func badService(err error) error {
	if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return err
	}
	msg := keygate.ErrorMessage(err)
	if !strings.HasPrefix(msg, "service:") {
		msg = "service: " + msg
	}
	return keygate.Errorf(keygate.EINVALID, "%s", msg)
}

func (s *Server) serviceRoutes(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.Store.FindService(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	return replyList(w, r, func(ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
		return s.Store.ListRoutes(ctx, keygate.RouteFilter{ServiceID: svc.ID}, p)
	})
}
