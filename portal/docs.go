package portal

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/keygate/keygate"
)

// callable lists the services consumer c's active keys may call that have
// an OpenAPI document: a key with no service or route restriction may call
// every service.
func (s *Server) callable(r *http.Request, c *keygate.Consumer) ([]*keygate.Service, error) {
	ctx := r.Context()
	keys, _, err := s.cfg.Store.ListKeys(ctx, keygate.KeyFilter{ConsumerID: c.ID}, keygate.Page{Limit: keygate.MaxPageSize})
	if err != nil {
		return nil, err
	}
	all, allowed := false, map[string]bool{}
	for _, k := range keys {
		if k.Status != keygate.KeyActive {
			continue
		}
		if len(k.AllowedServices) == 0 && len(k.AllowedRoutes) == 0 {
			all = true
			break
		}
		for _, id := range k.AllowedServices {
			allowed[id] = true
		}
		for _, id := range k.AllowedRoutes {
			rt, err := s.cfg.Store.FindRoute(ctx, id)
			if keygate.ErrorCode(err) == keygate.ENOTFOUND {
				continue
			} else if err != nil {
				return nil, err
			}
			allowed[rt.Service.ID] = true
		}
	}
	var out []*keygate.Service
	p := keygate.Page{Limit: keygate.MaxPageSize}
	for {
		services, next, err := s.cfg.Store.ListServices(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, svc := range services {
			if svc.OpenAPI != "" && (all || allowed[svc.ID]) {
				out = append(out, svc)
			}
		}
		if next == "" {
			return out, nil
		}
		p.After = next
	}
}

type docsData struct {
	Consumer *keygate.Consumer
	Services []*keygate.Service
	Service  *keygate.Service
	Doc      *apiDoc
}

// docs lists the services the application can call that have API docs.
func (s *Server) docs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	services, err := s.callable(r, c)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "docs", sessionFrom(r.Context()), "API docs", &docsData{Consumer: c, Services: services})
}

// serviceDocs renders one service's OpenAPI document as a list of
// operations, if the application can call the service.
func (s *Server) serviceDocs(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consumer(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	services, err := s.callable(r, c)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(services, func(svc *keygate.Service) bool { return svc.ID == r.PathValue("service") })
	if i < 0 {
		return keygate.Errorf(keygate.ENOTFOUND, "No API docs of that service for this application (it has no document, or no key of the application may call it).")
	}
	doc, err := parseAPIDoc(services[i].OpenAPI)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "service_docs", sessionFrom(r.Context()), services[i].Name+" API",
		&docsData{Consumer: c, Service: services[i], Doc: doc})
}

// apiDoc is what the portal shows of an OpenAPI document.
type apiDoc struct {
	Title, Version, Description string
	Operations                  []operation
}

type operation struct {
	Method, Path, Summary, Description, ID string
	Parameters                             []parameter
	Body                                   bool
	Responses                              []string
}

type parameter struct {
	Name, In, Description string
	Required              bool
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// parseAPIDoc reads the parts of an OpenAPI 3.x or Swagger 2.0 document the
// portal shows; what it does not know it leaves out.
func parseAPIDoc(doc string) (*apiDoc, error) {
	var d struct {
		Info struct {
			Title, Version, Description string
		} `json:"info"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, keygate.Errorf(keygate.EINVALID, "This service's OpenAPI document cannot be read.")
	}
	out := &apiDoc{Title: d.Info.Title, Version: d.Info.Version, Description: d.Info.Description}
	paths := make([]string, 0, len(d.Paths))
	for p := range d.Paths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		for _, m := range methods {
			raw, ok := d.Paths[p][m]
			if !ok {
				continue
			}
			var o struct {
				Summary     string `json:"summary"`
				Description string `json:"description"`
				OperationID string `json:"operationId"`
				Parameters  []struct {
					Name        string `json:"name"`
					In          string `json:"in"`
					Description string `json:"description"`
					Required    bool   `json:"required"`
				} `json:"parameters"`
				RequestBody json.RawMessage            `json:"requestBody"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if json.Unmarshal(raw, &o) != nil {
				continue
			}
			op := operation{Method: strings.ToUpper(m), Path: p, Summary: o.Summary, Description: o.Description, ID: o.OperationID,
				Body: len(o.RequestBody) > 0}
			for _, prm := range o.Parameters {
				if prm.In == "body" {
					op.Body = true
					continue
				}
				op.Parameters = append(op.Parameters, parameter{Name: prm.Name, In: prm.In, Description: prm.Description, Required: prm.Required})
			}
			for code := range o.Responses {
				op.Responses = append(op.Responses, code)
			}
			slices.Sort(op.Responses)
			out.Operations = append(out.Operations, op)
		}
	}
	return out, nil
}
