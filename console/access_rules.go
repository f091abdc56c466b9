package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/keygate/keygate"
)

// Access rules (auto-approval): list, create, edit, delete. A rule approves
// an access request for its plan from a consumer in one of its groups,
// for its services (none: any). Validated and resolved by
// adminapi.Server.ResolveAccessRule, as POST and PATCH /v1/access-rules.

type accessRulesData struct {
	Rules    []*keygate.AccessRule
	Services map[string]string // id → name
	Rule     *keygate.AccessRule
	Form     ruleForm
	Message  string
	Next     string
}

// ruleForm is a rule as its form shows it: services by name.
type ruleForm struct {
	Name, Plan, Groups, Services string
	Enabled                      bool
}

func (s *Server) serviceNames(ctx context.Context, rules ...*keygate.AccessRule) (map[string]string, error) {
	names := map[string]string{}
	for _, r := range rules {
		for _, id := range r.Services {
			if _, ok := names[id]; ok {
				continue
			}
			svc, err := s.cfg.Store.FindService(ctx, id)
			if keygate.ErrorCode(err) == keygate.ENOTFOUND {
				names[id] = id
				continue
			} else if err != nil {
				return nil, err
			}
			names[id] = svc.Name
		}
	}
	return names, nil
}

func (s *Server) formOf(ctx context.Context, r *keygate.AccessRule) (ruleForm, error) {
	names, err := s.serviceNames(ctx, r)
	if err != nil {
		return ruleForm{}, err
	}
	svcs := make([]string, len(r.Services))
	for i, id := range r.Services {
		svcs[i] = names[id]
	}
	return ruleForm{Name: r.Name, Plan: r.Plan, Groups: strings.Join(r.ConsumerGroups, ", "), Services: strings.Join(svcs, ", "),
		Enabled: r.Enabled}, nil
}

// applyRule sets the form's fields on r.
func applyRule(r *keygate.AccessRule, form url.Values) {
	r.Name = strings.TrimSpace(form.Get("name"))
	r.Plan = strings.TrimSpace(form.Get("plan"))
	r.ConsumerGroups = splitList(form.Get("groups"))
	r.Services = splitList(form.Get("services"))
	r.Enabled = form.Get("enabled") == "on"
}

func (s *Server) accessRules(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccessRules(w, r, http.StatusOK, &accessRulesData{Form: ruleForm{Enabled: true}})
}

func (s *Server) renderAccessRules(w http.ResponseWriter, r *http.Request, st int, d *accessRulesData) error {
	ctx := r.Context()
	rules, next, err := s.cfg.Store.ListAccessRules(ctx, keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d.Rules = rules
	if d.Services, err = s.serviceNames(ctx, rules...); err != nil {
		return err
	}
	if next != "" {
		d.Next = nextLink("/ui/access-rules", "", next)
	}
	return s.render(w, r, st, "access_rules", sessionFrom(ctx), "Access rules", d)
}

func (s *Server) createAccessRule(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rule := keygate.NewAccessRule()
	applyRule(rule, r.PostForm)
	err := s.cfg.Keys.ResolveAccessRule(ctx, rule)
	if err == nil {
		err = s.cfg.Store.CreateAccessRule(ctx, rule)
	}
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT || code == keygate.ENOTFOUND {
		f := ruleForm{Name: rule.Name, Plan: rule.Plan, Groups: r.PostForm.Get("groups"), Services: r.PostForm.Get("services"), Enabled: rule.Enabled}
		return s.renderAccessRules(w, r, status(code), &accessRulesData{Message: keygate.ErrorMessage(err), Form: f})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/access-rules/"+url.PathEscape(rule.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) accessRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.cfg.Store.FindAccessRule(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	f, err := s.formOf(r.Context(), rule)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "access_rule", sessionFrom(r.Context()), rule.Name, &accessRulesData{Rule: rule, Form: f})
}

func (s *Server) updateAccessRule(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var found *keygate.AccessRule
	_, err := s.cfg.Store.UpdateAccessRule(ctx, r.PathValue("id"), func(v *keygate.AccessRule) error {
		c := *v
		found = &c
		applyRule(v, r.PostForm)
		return s.cfg.Keys.ResolveAccessRule(ctx, v)
	})
	if code := keygate.ErrorCode(err); found != nil && (code == keygate.EINVALID || code == keygate.ECONFLICT || code == keygate.ENOTFOUND) {
		f := ruleForm{Name: r.PostForm.Get("name"), Plan: r.PostForm.Get("plan"), Groups: r.PostForm.Get("groups"),
			Services: r.PostForm.Get("services"), Enabled: r.PostForm.Get("enabled") == "on"}
		return s.render(w, r, status(code), "access_rule", sessionFrom(ctx), found.Name,
			&accessRulesData{Rule: found, Form: f, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/access-rules/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteAccessRule(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Store.DeleteAccessRule(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/access-rules", http.StatusSeeOther)
	return nil
}
