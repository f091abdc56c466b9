package client

import (
	"context"
	"net/http"

	"github.com/keygate/keygate"
)

// Targets returns a service's targets with the health the answering node
// sees.
func (c *Client) Targets(ctx context.Context, service string) ([]keygate.TargetHealth, error) {
	var out keygate.List[keygate.TargetHealth]
	if err := c.do(ctx, http.MethodGet, at("services", service)+"/targets", nil, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// SetTargets replaces a service's targets at once; an empty set is refused
// (ECONFLICT).
func (c *Client) SetTargets(ctx context.Context, service string, targets []keygate.UpstreamTarget) ([]keygate.TargetHealth, error) {
	var out keygate.List[keygate.TargetHealth]
	in := map[string]any{"targets": targets}
	if err := c.do(ctx, http.MethodPut, at("services", service)+"/targets", in, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// Deploy reports that the service now runs at d.URL (the CI/CD hook): its
// targets become that one.
func (c *Client) Deploy(ctx context.Context, service string, d keygate.Deploy) (*keygate.Service, error) {
	var out keygate.Service
	if err := c.do(ctx, http.MethodPost, at("services", service)+"/deploy", d, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
