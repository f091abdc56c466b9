package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// Plans: list, create, edit, delete, through the store calls of
// POST/PATCH/DELETE /v1/plans with the same Validate.

type plansData struct {
	Query   string
	Plans   []*keygate.Plan
	Next    string
	Message string
	Plan    *keygate.Plan // the new plan form's values
}

func (s *Server) plans(w http.ResponseWriter, r *http.Request) error {
	return s.renderPlans(w, r, http.StatusOK, &plansData{Plan: keygate.NewPlan()})
}

func (s *Server) renderPlans(w http.ResponseWriter, r *http.Request, st int, d *plansData) error {
	var err error
	if d.Query, err = query(r.URL.Query().Get("q")); err != nil {
		return err
	}
	d.Plans, d.Next, err = search(r.Context(), s.cfg.Store.ListPlans, func(v *keygate.Plan) string { return v.ID },
		func(v *keygate.Plan) bool { return v.ID == d.Query || contains(d.Query, v.Name, v.Description) },
		"/ui/plans", d.Query, r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	return s.render(w, r, st, "plans", sessionFrom(r.Context()), "Plans", d)
}

// applyPlan sets the plan form's fields on p; per-route adjustments (the
// API's routes) are left as they are.
func applyPlan(p *keygate.Plan, form url.Values) error {
	p.Name = strings.TrimSpace(form.Get("name"))
	p.Description = strings.TrimSpace(form.Get("description"))
	p.LimitBy = keygate.LimitBy(strings.TrimSpace(form.Get("limit_by")))
	p.Rate = 0
	if v := strings.TrimSpace(form.Get("rate")); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return keygate.Errorf(keygate.EINVALID, "Rate: a number of requests per second, please.")
		}
		p.Rate = f
	}
	var err error
	if p.Burst, err = formInt(form, "burst", "Burst", 0); err != nil {
		return err
	}
	for _, q := range []struct {
		field, label string
		v            *int64
	}{
		{"quota_minute", "Quota per minute", &p.Quotas.Minute},
		{"quota_hour", "Quota per hour", &p.Quotas.Hour},
		{"quota_day", "Quota per day", &p.Quotas.Day},
		{"quota_month", "Quota per month", &p.Quotas.Month},
	} {
		*q.v = 0
		if v := strings.TrimSpace(form.Get(q.field)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return keygate.Errorf(keygate.EINVALID, "%s: a whole number, please.", q.label)
			}
			*q.v = n
		}
	}
	p.HideClientHeaders = form.Get("hide_client_headers") != ""
	return nil
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request) error {
	p := keygate.NewPlan()
	err := applyPlan(p, r.PostForm)
	if err == nil {
		err = p.Validate()
	}
	if err == nil {
		err = s.cfg.Store.CreatePlan(r.Context(), p)
	}
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderPlans(w, r, status(code), &plansData{Message: keygate.ErrorMessage(err), Plan: p})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/plans/"+url.PathEscape(p.ID), http.StatusSeeOther)
	return nil
}

type planData struct {
	Plan    *keygate.Plan
	Message string
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.FindPlan(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "plan", sessionFrom(r.Context()), p.Name, &planData{Plan: p})
}

func (s *Server) updatePlan(w http.ResponseWriter, r *http.Request) error {
	var tried *keygate.Plan
	p, err := s.cfg.Store.UpdatePlan(r.Context(), r.PathValue("id"), func(p *keygate.Plan) error {
		tried = p
		if err := applyPlan(p, r.PostForm); err != nil {
			return err
		}
		return p.Validate()
	})
	if code := keygate.ErrorCode(err); tried != nil && (code == keygate.EINVALID || code == keygate.ECONFLICT) {
		return s.render(w, r, status(code), "plan", sessionFrom(r.Context()), "Plan", &planData{Plan: tried, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/plans/"+url.PathEscape(p.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) deletePlan(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.cfg.Store.DeletePlan(ctx, r.PathValue("id"))
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		p, ferr := s.cfg.Store.FindPlan(ctx, r.PathValue("id"))
		if ferr != nil {
			return ferr
		}
		return s.render(w, r, http.StatusConflict, "plan", sessionFrom(ctx), p.Name, &planData{Plan: p, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/plans", http.StatusSeeOther)
	return nil
}
