package adminapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

// A service's OpenAPI document is set and cleared through PATCH; a bad one
// is refused naming the field.
func TestServiceOpenAPI(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	adminapitest.CreateService(t, e.Client, "orders", "http://127.0.0.1:9", nil)
	doc := `{"openapi":"3.1.0","paths":{"/orders":{"get":{}}}}`
	s, err := e.Client.UpdateService(ctx, "orders", map[string]any{"openapi": doc})
	if err != nil || s.OpenAPI != doc {
		t.Fatalf("PATCH openapi: %v %q", err, s.OpenAPI)
	}
	if got, _ := e.Client.Service(ctx, "orders"); got.OpenAPI != doc {
		t.Fatalf("GET after PATCH: %q", got.OpenAPI)
	}
	_, err = e.Client.UpdateService(ctx, "orders", map[string]any{"openapi": "openapi: 3.1.0"})
	if ce, ok := errors.AsType[*client.Error](err); !ok || ce.Status != 400 || !strings.Contains(err.Error(), "openapi:") {
		t.Fatalf("a YAML document: %v, want EINVALID naming openapi", err)
	}
	if s, err := e.Client.UpdateService(ctx, "orders", map[string]any{"openapi": ""}); err != nil || s.OpenAPI != "" {
		t.Fatalf("clearing: %v %q", err, s.OpenAPI)
	}
}
