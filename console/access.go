package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
)

// Access requests: the queue (pending first; other states by filter), and
// approve or deny with a reason, through the admin API's in-process
// decision, so the key, webhooks and audit entries are the same as the
// API's.

type accessRow struct {
	*keygate.AccessRequest
	Consumer string
	Services []string // names
	Routes   []string
}

type accessData struct {
	Status   string
	Statuses []string
	Rows     []accessRow
	Next     string
	Message  string
}

var accessStatuses = []string{string(keygate.AccessPending), string(keygate.AccessApproved), string(keygate.AccessDenied), string(keygate.AccessPickedUp)}

func (s *Server) accessRequests(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccess(w, r, http.StatusOK, "")
}

func (s *Server) renderAccess(w http.ResponseWriter, r *http.Request, st int, msg string) error {
	ctx := r.Context()
	q := r.URL.Query()
	d := &accessData{Status: q.Get("status"), Statuses: accessStatuses, Message: msg}
	switch d.Status {
	case "":
		d.Status = string(keygate.AccessPending)
	case "all":
	default:
		if !strings.Contains(" "+strings.Join(accessStatuses, " ")+" ", " "+d.Status+" ") {
			return keygate.Errorf(keygate.EINVALID, "Status: one of %s, or all.", strings.Join(accessStatuses, ", "))
		}
	}
	f := keygate.AccessRequestFilter{}
	if d.Status != "all" {
		f.Status = keygate.AccessStatus(d.Status)
	}
	reqs, next, err := s.cfg.Store.ListAccessRequests(ctx, f, keygate.Page{After: q.Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	ids := make([]string, len(reqs))
	for i, req := range reqs {
		ids[i] = req.Consumer.ID
	}
	consumers, err := s.consumerNames(ctx, ids)
	if err != nil {
		return err
	}
	names := map[string]string{} // service and route ids → names
	name := func(ctx context.Context, id string, find func(string) (string, error)) (string, error) {
		if n, ok := names[id]; ok {
			return n, nil
		}
		n, err := find(id)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			n, err = id+" (deleted)", nil
		}
		names[id] = n
		return n, err
	}
	for _, req := range reqs {
		row := accessRow{AccessRequest: req, Consumer: consumers[req.Consumer.ID]}
		for _, id := range req.Services {
			n, err := name(ctx, id, func(id string) (string, error) {
				svc, err := s.cfg.Store.FindService(ctx, id)
				if err != nil {
					return "", err
				}
				return svc.Name, nil
			})
			if err != nil {
				return err
			}
			row.Services = append(row.Services, n)
		}
		for _, id := range req.Routes {
			n, err := name(ctx, id, func(id string) (string, error) {
				rt, err := s.cfg.Store.FindRoute(ctx, id)
				if err != nil {
					return "", err
				}
				return rt.Name, nil
			})
			if err != nil {
				return err
			}
			row.Routes = append(row.Routes, n)
		}
		d.Rows = append(d.Rows, row)
	}
	if next != "" {
		d.Next = "/ui/access?" + url.Values{"after": {next}, "status": {d.Status}}.Encode()
	}
	return s.render(w, r, st, "access", sessionFrom(ctx), "Access requests", d)
}

// decideAccess approves or denies one request, with the reason given.
func (s *Server) decideAccess(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess := sessionFrom(ctx)
	decision := r.PostForm.Get("decision")
	if decision != "approve" && decision != "deny" {
		return keygate.Errorf(keygate.EINVALID, "Decision: approve or deny.")
	}
	if !adminapi.Allowed(sess.Role, http.MethodPost, "/v1/access-requests/{id}/"+decision) {
		return keygate.Errorf(keygate.EFORBIDDEN, "Your role may not %s access requests.", decision)
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	req, err := s.cfg.Keys.DecideAccessRequest(ctx, r.PathValue("id"), decision == "approve",
		keygate.AccessDecision{By: "user:" + sess.User, Reason: reason})
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderAccess(w, r, status(code), keygate.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/access?"+url.Values{"status": {string(keygate.AccessPending)}, "decided": {req.ID}}.Encode(), http.StatusSeeOther)
	return nil
}
