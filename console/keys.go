package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// rotatePage asks how long the old key should keep working.
func (s *Server) rotatePage(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Store.FindKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "rotate", sessionFrom(r.Context()), "Rotate key",
		map[string]any{"Key": k, "GraceHours": keygate.DefaultGracePeriod / 3600, "Message": ""})
}

// maxGraceHours is keygate.MaxGracePeriod in hours.
const maxGraceHours = keygate.MaxGracePeriod / 3600

// rotateKey issues the successor of a key through the admin API's rotation
// and shows it once, as createKey does; the old key works on for the
// grace period (the overlap).
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req keygate.RotateKeyRequest
	hours := strings.TrimSpace(r.PostForm.Get("grace_hours"))
	if hours != "" {
		h, err := strconv.Atoi(hours)
		if err != nil || h < 0 || h > maxGraceHours {
			k, ferr := s.cfg.Store.FindKey(ctx, r.PathValue("id"))
			if ferr != nil {
				return ferr
			}
			return s.render(w, r, http.StatusBadRequest, "rotate", sessionFrom(ctx), "Rotate key",
				map[string]any{"Key": k, "GraceHours": hours,
					"Message": "Overlap: a whole number of hours from 0 to " + strconv.Itoa(maxGraceHours) + "."})
		}
		secs := h * 3600
		req.GracePeriod = &secs
	}
	rot, err := s.cfg.Keys.RotateKey(ctx, r.PathValue("id"), req)
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		k, ferr := s.cfg.Store.FindKey(ctx, r.PathValue("id"))
		if ferr != nil {
			return ferr
		}
		return s.render(w, r, status(code), "rotate", sessionFrom(ctx), "Rotate key",
			map[string]any{"Key": k, "GraceHours": hours, "Message": keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	c, err := s.cfg.Store.FindConsumer(ctx, rot.Key.Consumer.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusCreated, "key_created", sessionFrom(ctx), "Key rotated",
		map[string]any{"Key": &rot.Key, "Consumer": c, "Previous": &rot.Previous})
}

type keyData struct {
	Key      *keygate.APIKey
	Consumer *keygate.Consumer
	Events   []*keygate.AuditEvent
	Next     string
	Plans    []*keygate.Plan
	Message  string
}

// keyTimeline shows one key and its lifecycle: the audit events naming
// it, oldest first.
func (s *Server) keyTimeline(w http.ResponseWriter, r *http.Request) error {
	k, err := s.cfg.Store.FindKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.renderKey(w, r, http.StatusOK, &keyData{Key: k})
}

func (s *Server) renderKey(w http.ResponseWriter, r *http.Request, st int, d *keyData) error {
	ctx := r.Context()
	k := d.Key
	c, err := s.cfg.Store.FindConsumer(ctx, k.Consumer.ID)
	if err != nil {
		return err
	}
	d.Consumer = c
	if d.Plans, _, err = s.cfg.Store.ListPlans(ctx, keygate.Page{Limit: keygate.MaxPageSize}); err != nil {
		return err
	}
	events, next, err := s.cfg.Store.ListAudit(ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{After: r.URL.Query().Get("after"), Limit: 50})
	if err != nil {
		return err
	}
	d.Events = events
	if next != "" {
		d.Next = "/ui/keys/" + url.PathEscape(k.ID) + "?" + url.Values{"after": {next}}.Encode()
	}
	return s.render(w, r, st, "key", sessionFrom(ctx), "Key "+k.Start+"…", d)
}

// keyring shows the keyring's versions and how far a rewrap has come.
func (s *Server) keyring(w http.ResponseWriter, r *http.Request) error {
	st, err := s.cfg.Keys.KeyringStatus(r.Context())
	if err != nil {
		return err
	}
	total := 0
	for _, v := range st.Versions {
		total += v.DataKeys
	}
	done := 100
	if total > 0 {
		done = (total - st.Remaining) * 100 / total
	}
	return s.render(w, r, http.StatusOK, "keyring", sessionFrom(r.Context()), "Keyring",
		map[string]any{"Status": st, "Total": total, "Done": done})
}

// updateKey changes what PATCH /v1/keys/{id} may: the key's name and plan
// (empty: its consumer's).
func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	plan := strings.TrimSpace(r.PostForm.Get("plan"))
	var tried *keygate.APIKey
	k, err := s.cfg.Store.UpdateKey(r.Context(), r.PathValue("id"), func(k *keygate.APIKey) error {
		tried = k
		k.Name, k.Plan = name, nil
		if plan != "" {
			k.Plan = &keygate.Ref{ID: plan}
		}
		return nil
	})
	if code := keygate.ErrorCode(err); tried != nil && (code == keygate.EINVALID || code == keygate.ENOTFOUND || code == keygate.ECONFLICT) {
		old, ferr := s.cfg.Store.FindKey(r.Context(), r.PathValue("id"))
		if ferr != nil {
			return ferr
		}
		st := status(code)
		if code == keygate.ENOTFOUND { // the plan the form named
			st = http.StatusBadRequest
		}
		return s.renderKey(w, r, st, &keyData{Key: old, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/keys/"+url.PathEscape(k.ID), http.StatusSeeOther)
	return nil
}
