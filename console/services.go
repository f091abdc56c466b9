package console

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
)

// Services and routes: list, create, edit, delete. Changes go through the
// store calls the admin API's handlers make (POST/PATCH/DELETE
// /v1/services and /v1/routes), with the same Validate, so the audit trail
// names the user.

type servicesData struct {
	Query    string
	Services []*keygate.Service
	Next     string
	Message  string
	Form     url.Values
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) error {
	return s.renderServices(w, r, http.StatusOK, &servicesData{Form: url.Values{}})
}

func (s *Server) renderServices(w http.ResponseWriter, r *http.Request, st int, d *servicesData) error {
	var err error
	if d.Query, err = query(r.URL.Query().Get("q")); err != nil {
		return err
	}
	d.Services, d.Next, err = search(r.Context(), s.cfg.Store.ListServices, func(v *keygate.Service) string { return v.ID },
		func(v *keygate.Service) bool { return v.ID == d.Query || contains(d.Query, v.Name, v.URL) },
		"/ui/services", d.Query, r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	return s.render(w, r, st, "services", sessionFrom(r.Context()), "Services", d)
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) error {
	svc := keygate.NewService()
	svc.Name = strings.TrimSpace(r.PostForm.Get("name"))
	svc.URL = strings.TrimSpace(r.PostForm.Get("url"))
	err := svc.Validate()
	if err == nil {
		err = s.cfg.Store.CreateService(r.Context(), svc)
	}
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderServices(w, r, status(code), &servicesData{Message: keygate.ErrorMessage(err), Form: r.PostForm})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/services/"+url.PathEscape(svc.ID), http.StatusSeeOther)
	return nil
}

type serviceData struct {
	Service   *keygate.Service
	Routes    []*keygate.Route
	Next      string
	Message   string // about the service form
	RouteMsg  string // about the new route form
	RouteForm url.Values
}

func (s *Server) service(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.cfg.Store.FindService(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.renderService(w, r, http.StatusOK, &serviceData{Service: svc, RouteForm: url.Values{}})
}

func (s *Server) renderService(w http.ResponseWriter, r *http.Request, st int, d *serviceData) error {
	routes, next, err := s.cfg.Store.ListRoutes(r.Context(), keygate.RouteFilter{ServiceID: d.Service.ID},
		keygate.Page{After: r.URL.Query().Get("after"), Limit: pageSize})
	if err != nil {
		return err
	}
	d.Routes = routes
	if next != "" {
		d.Next = nextLink("/ui/services/"+url.PathEscape(d.Service.ID), "", next)
	}
	return s.render(w, r, st, "service", sessionFrom(r.Context()), d.Service.Name, d)
}

// formInt reads a whole number field; empty keeps def.
func formInt(form url.Values, field, label string, def int) (int, error) {
	v := strings.TrimSpace(form.Get(field))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, keygate.Errorf(keygate.EINVALID, "%s: a whole number, please.", label)
	}
	return n, nil
}

// applyService sets the edit form's fields on svc.
func applyService(svc *keygate.Service, form url.Values) error {
	svc.Name = strings.TrimSpace(form.Get("name"))
	if u := strings.TrimSpace(form.Get("url")); u != svc.URL {
		svc.URL, svc.Targets = u, nil // a new URL replaces the targets, as PATCH {"url"} does
	}
	var err error
	for _, f := range []struct {
		field, label string
		v            *int
	}{
		{"retries", "Retries", &svc.Retries},
		{"connect_timeout", "Connect timeout", &svc.ConnectTimeout},
		{"read_timeout", "Read timeout", &svc.ReadTimeout},
		{"write_timeout", "Write timeout", &svc.WriteTimeout},
	} {
		if *f.v, err = formInt(form, f.field, f.label, *f.v); err != nil {
			return err
		}
	}
	svc.Tags = splitList(form.Get("tags"))
	return nil
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) error {
	var tried *keygate.Service // what the form made of the stored service, shown again when refused
	svc, err := s.cfg.Store.UpdateService(r.Context(), r.PathValue("id"), func(svc *keygate.Service) error {
		tried = svc
		if err := applyService(svc, r.PostForm); err != nil {
			return err
		}
		return svc.Validate()
	})
	if code := keygate.ErrorCode(err); tried != nil && (code == keygate.EINVALID || code == keygate.ECONFLICT) {
		return s.renderService(w, r, status(code), &serviceData{Service: tried, Message: keygate.ErrorMessage(err), RouteForm: url.Values{}})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/services/"+url.PathEscape(svc.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	err := s.cfg.Store.DeleteService(ctx, r.PathValue("id"))
	if keygate.ErrorCode(err) == keygate.ECONFLICT {
		svc, ferr := s.cfg.Store.FindService(ctx, r.PathValue("id"))
		if ferr != nil {
			return ferr
		}
		return s.renderService(w, r, http.StatusConflict, &serviceData{Service: svc, Message: keygate.ErrorMessage(err), RouteForm: url.Values{}})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/services", http.StatusSeeOther)
	return nil
}

// splitList splits a field of values separated by commas, spaces or line
// breaks, dropping empty ones.
func splitList(v string) []string {
	out := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if out == nil {
		out = []string{}
	}
	return out
}

// applyRoute sets the route form's fields on rt. Credentials the form does
// not show (HMAC, OAuth 2.0, ACL) are left as they are.
func applyRoute(rt *keygate.Route, form url.Values) {
	rt.Name = strings.TrimSpace(form.Get("name"))
	rt.Paths = splitList(form.Get("paths"))
	rt.Hosts = splitList(form.Get("hosts"))
	rt.Methods = splitList(strings.ToUpper(form.Get("methods")))
	rt.StripPath = form.Get("strip_path") != ""
	rt.PreserveHost = form.Get("preserve_host") != ""
	switch {
	case form.Get("key_auth") == "":
		rt.KeyAuth = nil
	case rt.KeyAuth == nil:
		rt.KeyAuth = keygate.NewKeyAuthConfig()
	}
	rt.Tags = splitList(form.Get("tags"))
}

func (s *Server) createRoute(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	svc, err := s.cfg.Store.FindService(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	rt := keygate.NewRoute()
	applyRoute(rt, r.PostForm)
	rt.Service = keygate.Ref{ID: svc.ID}
	err = rt.Validate()
	if err == nil {
		err = s.cfg.Store.CreateRoute(ctx, rt)
	}
	if code := keygate.ErrorCode(err); code == keygate.EINVALID || code == keygate.ECONFLICT {
		return s.renderService(w, r, status(code), &serviceData{Service: svc, RouteMsg: keygate.ErrorMessage(err), RouteForm: r.PostForm})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/routes/"+url.PathEscape(rt.ID), http.StatusSeeOther)
	return nil
}

type routesData struct {
	Query    string
	Routes   []*keygate.Route
	Services map[string]string // id → name
	Next     string
}

func (s *Server) routes(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := query(r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	d := &routesData{Query: q, Services: map[string]string{}}
	d.Routes, d.Next, err = search(ctx, func(ctx context.Context, p keygate.Page) ([]*keygate.Route, string, error) {
		return s.cfg.Store.ListRoutes(ctx, keygate.RouteFilter{}, p)
	}, func(v *keygate.Route) string { return v.ID },
		func(v *keygate.Route) bool {
			return v.ID == q || contains(q, append([]string{v.Name}, append(v.Paths, v.Hosts...)...)...)
		}, "/ui/routes", q, r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	for _, rt := range d.Routes {
		if _, ok := d.Services[rt.Service.ID]; ok {
			continue
		}
		svc, err := s.cfg.Store.FindService(ctx, rt.Service.ID)
		if err != nil {
			return err
		}
		d.Services[svc.ID] = svc.Name
	}
	return s.render(w, r, http.StatusOK, "routes", sessionFrom(ctx), "Routes", d)
}

type routeData struct {
	Route   *keygate.Route
	Service *keygate.Service
	Message string
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) error {
	rt, err := s.cfg.Store.FindRoute(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.renderRoute(w, r, http.StatusOK, &routeData{Route: rt})
}

func (s *Server) renderRoute(w http.ResponseWriter, r *http.Request, st int, d *routeData) error {
	svc, err := s.cfg.Store.FindService(r.Context(), d.Route.Service.ID)
	if err != nil {
		return err
	}
	d.Service = svc
	title := d.Route.Name
	if title == "" {
		title = "Route " + d.Route.ID
	}
	return s.render(w, r, st, "route", sessionFrom(r.Context()), title, d)
}

func (s *Server) updateRoute(w http.ResponseWriter, r *http.Request) error {
	var tried *keygate.Route
	rt, err := s.cfg.Store.UpdateRoute(r.Context(), r.PathValue("id"), func(rt *keygate.Route) error {
		applyRoute(rt, r.PostForm)
		tried = rt
		return rt.Validate()
	})
	if code := keygate.ErrorCode(err); tried != nil && (code == keygate.EINVALID || code == keygate.ECONFLICT) {
		return s.renderRoute(w, r, status(code), &routeData{Route: tried, Message: keygate.ErrorMessage(err)})
	} else if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/routes/"+url.PathEscape(rt.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rt, err := s.cfg.Store.FindRoute(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteRoute(ctx, rt.ID); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/services/"+url.PathEscape(rt.Service.ID), http.StatusSeeOther)
	return nil
}
