package adminapi_test

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// A consumer's rotation policy and public key are set, merged, shown and
// removed through the consumer endpoints.
func TestConsumerRotationPolicy(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	priv, err := ecdh.X25519().NewPrivateKey([]byte("adminapi test consumer private k"))
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes())

	r := request(t, e, "POST", "/v1/consumers", `{"username":"acme","public_key":"`+pub+`",
		"rotation_policy":{"every":2592000,"overlap":604800,"notice":1209600,"auto":true}}`, nil)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var shown map[string]any
	json.Unmarshal([]byte(r.body), &shown)
	if p, _ := shown["rotation_policy"].(map[string]any); p["every"] != 2592000.0 || p["overlap"] != 604800.0 ||
		p["notice"] != 1209600.0 || p["auto"] != true || shown["public_key"] != pub {
		t.Errorf("created %s", r.body)
	}

	// A partial policy is merged into the stored one.
	c := must[*keygate.Consumer](t)(e.Client.UpdateConsumer(ctx, "acme", map[string]any{"rotation_policy": map[string]any{"every": 90 * 86400}}))
	if want := (keygate.RotationPolicy{Every: 90 * 86400, Overlap: 604800, Notice: 1209600, Auto: true}); c.RotationPolicy == nil || *c.RotationPolicy != want {
		t.Errorf("merged policy %+v, want %+v", c.RotationPolicy, want)
	}
	// null removes either.
	c = must[*keygate.Consumer](t)(e.Client.UpdateConsumer(ctx, "acme", map[string]any{"public_key": nil, "rotation_policy": nil}))
	if c.RotationPolicy != nil || c.PublicKey != "" {
		t.Errorf("after removal %+v", c)
	}
	if r := request(t, e, "GET", "/v1/consumers/acme", "", nil); strings.Contains(r.body, "rotation_policy") || strings.Contains(r.body, "public_key") {
		t.Errorf("a consumer without them shows %s", r.body)
	}

	tests := []struct {
		name, method, path, body, msg string
	}{
		{"every missing", "POST", "/v1/consumers", `{"username":"b","rotation_policy":{"overlap":3600}}`, "rotation_policy.every: must be from 86400"},
		{"every under a day", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86399}}`, "rotation_policy.every"},
		{"every over ten years", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":315360001}}`, "rotation_policy.every"},
		{"every not a number", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":"30d"}}`, "rotation_policy.every: must be an integer"},
		{"every fractional", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400.5}}`, "rotation_policy.every: must be an integer"},
		{"overlap over 30 days", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":315360000,"overlap":2592001}}`, "rotation_policy.overlap"},
		{"overlap not shorter than every", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"overlap":86400}}`, "rotation_policy.overlap: must be shorter than every"},
		{"negative overlap", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"overlap":-1}}`, "rotation_policy.overlap"},
		{"auto without overlap", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"auto":true}}`, "rotation_policy.overlap: must be at least 3600"},
		{"notice not shorter than every", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"notice":86400}}`, "rotation_policy.notice: must be shorter than every"},
		{"negative notice", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"notice":-5}}`, "rotation_policy.notice"},
		{"auto not a boolean", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"auto":"yes"}}`, "rotation_policy.auto: must be a boolean"},
		{"unknown policy field", "PATCH", "/v1/consumers/acme", `{"rotation_policy":{"every":86400,"jitter":5}}`, `unknown field "jitter"`},
		{"policy not an object", "PATCH", "/v1/consumers/acme", `{"rotation_policy":30}`, "rotation_policy: must be an object"},
		{"public key not base64", "PATCH", "/v1/consumers/acme", `{"public_key":"not base64!"}`, "public_key: must be standard base64"},
		{"public key too short", "PATCH", "/v1/consumers/acme", `{"public_key":"` + base64.StdEncoding.EncodeToString(make([]byte, 16)) + `"}`, "public_key: must be an X25519 public key of 32 bytes"},
		{"public key of a PEM", "POST", "/v1/consumers", `{"username":"b","public_key":"-----BEGIN PUBLIC KEY-----"}`, "public_key: must be standard base64"},
		{"public key of low order", "PATCH", "/v1/consumers/acme", `{"public_key":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`, "public_key: a low-order X25519 point"},
		{"public key not a string", "PATCH", "/v1/consumers/acme", `{"public_key":32}`, "public_key: must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, e, tt.method, tt.path, tt.body, nil).wantError(t, 400, keygate.EINVALID, tt.msg)
		})
	}
	// Nothing half-written.
	if c := must[*keygate.Consumer](t)(e.Client.Consumer(ctx, "acme")); c.RotationPolicy != nil || c.PublicKey != "" {
		t.Errorf("a refused update changed the consumer: %+v", c)
	}
	if _, err := e.Client.Consumer(ctx, "b"); err == nil {
		t.Error("a refused create stored the consumer")
	}
}
