package adminapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/keygate/keygate"
)

// targetRoutes serves a service's targets and the deploy hook CI/CD
// pipelines call.
func (s *Server) targetRoutes(h func(string, handlerFunc)) {
	h("GET /v1/services/{service}/targets", s.listTargets)
	h("PUT /v1/services/{service}/targets", s.putTargets)
	h("POST /v1/services/{service}/deploy", s.deploy)
}

// TargetsBody is the body of PUT /v1/services/{name}/targets.
type TargetsBody struct {
	Targets []keygate.UpstreamTarget `json:"targets"`
}

func (s *Server) listTargets(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.Store.FindService(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, s.targetList(svc))
}

// targetList is svc's targets with this node's view of their health.
func (s *Server) targetList(svc *keygate.Service) keygate.List[keygate.TargetHealth] {
	var health map[string]string
	if s.TargetHealth != nil {
		health = s.TargetHealth(svc.ID)
	}
	out := keygate.List[keygate.TargetHealth]{Data: make([]keygate.TargetHealth, 0, len(svc.Targets))}
	for _, t := range svc.Targets {
		h := health[t.URL]
		if h == "" {
			h = "unchecked" // not proxied by this node (yet)
		}
		out.Data = append(out.Data, keygate.TargetHealth{UpstreamTarget: t, Health: h})
	}
	return out
}

// putTargets replaces a service's targets in one write: the gateway sends
// new requests to the new set as soon as it is stored.
func (s *Server) putTargets(w http.ResponseWriter, r *http.Request) error {
	body, fields, err := readBody(w, r)
	if err != nil {
		return err
	}
	if _, ok := fields["targets"]; !ok {
		return keygate.Errorf(keygate.EINVALID, "targets: required")
	}
	var in TargetsBody
	if err := decode(body, &in); err != nil {
		return err
	}
	if err := refuseEmpty(in.Targets); err != nil {
		return err
	}
	svc, err := s.setTargets(r.Context(), r.PathValue("service"), in.Targets)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, s.targetList(svc))
}

// refuseEmpty keeps a broken pipeline from taking a service down: a set
// with no target, or none with weight, would leave it nowhere to send to.
func refuseEmpty(targets []keygate.UpstreamTarget) error {
	total := 0
	for _, t := range targets {
		total += max(t.Weight, 0)
	}
	if total == 0 {
		return keygate.Errorf(keygate.ECONFLICT, "targets: a service's targets cannot be emptied (at least one target with a weight above 0 is required); delete the service instead")
	}
	return nil
}

func (s *Server) setTargets(ctx context.Context, ref string, targets []keygate.UpstreamTarget) (*keygate.Service, error) {
	if err := keygate.ValidateTargets(targets); err != nil {
		return nil, err
	}
	return s.Store.UpdateService(ctx, ref, func(svc *keygate.Service) error {
		svc.Targets, svc.URL = targets, "" // the url follows the heaviest target
		return svc.Validate()
	})
}

// deploy is the CI/CD hook: the service now runs at one URL. It replaces
// the targets with that one, records the deploy in the audit trail (as the
// service's update, with the deploy as its reason) and tells webhooks
// (service.deployed).
func (s *Server) deploy(w http.ResponseWriter, r *http.Request) error {
	var in keygate.Deploy
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.URL == "" {
		return keygate.Errorf(keygate.ECONFLICT, "url: required; a deploy cannot leave a service without targets")
	}
	ctx := r.Context()
	what := "deployed " + in.URL
	if in.Color != "" {
		what += " (" + in.Color + ")"
	}
	_, reason := keygate.Audit(ctx)
	if reason != "" {
		what += ": " + reason
	}
	ctx = keygate.WithReason(ctx, keygate.CleanReason(what))
	var previous []keygate.UpstreamTarget
	target := keygate.UpstreamTarget{URL: in.URL, Weight: keygate.DefaultWeight, Color: in.Color}
	if _, err := keygate.ParseUpstreamURL(in.URL); err != nil {
		return err
	}
	if err := keygate.ValidateTargets([]keygate.UpstreamTarget{target}); err != nil {
		return err
	}
	svc, err := s.Store.UpdateService(ctx, r.PathValue("service"), func(svc *keygate.Service) error {
		previous = svc.Targets
		svc.Targets, svc.URL = []keygate.UpstreamTarget{target}, ""
		return svc.Validate()
	})
	if err != nil {
		return err
	}
	s.publishDeploy(ctx, svc, target, previous)
	return reply(w, http.StatusOK, svc)
}

// publishDeploy tells subscribers a service was deployed. The deploy is
// stored already: a lost notice is logged, never undoes or fails it.
func (s *Server) publishDeploy(ctx context.Context, svc *keygate.Service, target keygate.UpstreamTarget, previous []keygate.UpstreamTarget) {
	if s.Events == nil {
		return
	}
	urls := make([]string, 0, len(previous))
	for _, t := range previous {
		urls = append(urls, t.URL)
	}
	err := s.Events.Publish(ctx, keygate.Event{Type: keygate.EventServiceDeployed, CreatedAt: s.now(), Data: map[string]any{
		"service_id": svc.ID, "service": svc.Name, "url": target.URL, "color": target.Color, "previous_urls": urls,
	}})
	if err != nil {
		s.logger().LogAttrs(ctx, slog.LevelWarn, "event not published", slog.String("type", keygate.EventServiceDeployed),
			slog.String("service_id", svc.ID), slog.Any("err", err))
	}
}
