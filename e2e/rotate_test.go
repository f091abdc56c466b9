package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// Rotation with overlap, driven by an injected clock: both keys work during
// the grace period (the old one announcing its end), then the old one is
// refused as expired; a caller can rotate its own key through the gateway.
func TestGatewayKeyRotation(t *testing.T) {
	t.Parallel()
	clock := newFileClock(t, time.Now())
	g := startGatewayWith(t, append(clock.flags(), "--self-rotate-path", "/.keygate/rotate", "--key-expiry-notice", "168h")...)
	g.service(t, "orders", g.upstream.URL, nil)
	g.route(t, "orders", "orders", func(r *keygate.Route) { r.KeyAuth = keygate.NewKeyAuthConfig() })
	g.consumer(t, "acme")
	ttl := 90 * 24 * 60 * 60
	old := g.key(t, "acme", keygate.KeyRequest{TTL: &ttl})
	ctx := context.Background()

	grace := 3600
	rot, err := g.admin.RotateKey(ctx, old.ID, &grace)
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().Add(time.Hour); !rot.Previous.ExpiresAt.Equal(want.UTC().Truncate(time.Microsecond)) || rot.Previous.SuccessorID != rot.Key.ID {
		t.Fatalf("previous %+v, want expiry %v", rot.Previous, want)
	}
	if lifetime := rot.Key.ExpiresAt.Sub(rot.Key.CreatedAt); lifetime != 90*24*time.Hour || rot.Key.RotatedFrom != old.ID {
		t.Fatalf("successor lives %v (want the original 90 days), rotated_from %q", lifetime, rot.Key.RotatedFrom)
	}

	status, h, _ := g.call(t, "GET", "/orders", hdr("apikey", old.Key))
	if status != 200 || h.Get("Sunset") == "" || !strings.HasPrefix(h.Get("Deprecation"), "@") {
		t.Errorf("old key in its grace period: %d, Sunset %q, Deprecation %q", status, h.Get("Sunset"), h.Get("Deprecation"))
	}
	if sunset, err := http.ParseTime(h.Get("Sunset")); err != nil || !sunset.Equal(rot.Previous.ExpiresAt.Truncate(time.Second)) {
		t.Errorf("Sunset %q, want %v", h.Get("Sunset"), rot.Previous.ExpiresAt)
	}
	status, h, _ = g.call(t, "GET", "/orders", hdr("apikey", rot.Key.Key))
	if status != 200 || h.Get("Sunset") != "" || h.Get("Deprecation") != "" {
		t.Errorf("new key: %d, Sunset %q, Deprecation %q", status, h.Get("Sunset"), h.Get("Deprecation"))
	}
	if _, err := g.admin.RotateKey(ctx, old.ID, nil); err == nil || !strings.Contains(err.Error(), "already rotated") {
		t.Errorf("a second rotation of the old key: %v", err)
	}

	clock.Advance(time.Hour)
	if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", old.Key)); status != 401 {
		t.Errorf("old key after its grace period: %d", status)
	}
	res, err := g.admin.VerifyKey(ctx, keygate.VerifyRequest{Key: old.Key})
	if err != nil || res.Code != keygate.CodeExpired {
		t.Errorf("old key verifies as %+v %v, want EXPIRED", res, err)
	}

	t.Run("self-service rotation through the gateway", func(t *testing.T) {
		current := rot.Key.Key
		req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", strings.NewReader(`{"grace_period": 600}`))
		req.Header.Set("Authorization", "Bearer "+current)
		resp := do(t, req)
		var self keygate.KeyRotation
		json.NewDecoder(resp.Body).Decode(&self)
		resp.Body.Close()
		if resp.StatusCode != 201 || self.Key.Key == "" || self.Previous.ID != rot.Key.ID || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("self rotation: %d %+v", resp.StatusCode, self)
		}
		for _, k := range []string{current, self.Key.Key} {
			if status, _, _ := g.call(t, "GET", "/orders", hdr("apikey", k)); status != 200 {
				t.Errorf("during the grace period: %d", status)
			}
		}
		// The key in its grace period cannot start a second chain.
		req, _ = http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", nil)
		req.Header.Set("apikey", current)
		if resp := do(t, req); resp.StatusCode != 409 {
			t.Errorf("second self rotation: %d", resp.StatusCode)
		}
		for _, tt := range []struct {
			name, method, key string
			status            int
		}{
			{"no key", "POST", "", 401},
			{"GET", "GET", self.Key.Key, 405},
			{"unknown key", "POST", "kg_test_0000000000000000000000000000000000000000000000_000000", 401},
		} {
			req, _ := http.NewRequest(tt.method, g.proxyURL+"/.keygate/rotate", nil)
			if tt.key != "" {
				req.Header.Set("apikey", tt.key)
			}
			if resp := do(t, req); resp.StatusCode != tt.status {
				t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.status)
			}
		}
	})

	t.Run("the key in the query string is not taken, and refusals do not count", func(t *testing.T) {
		g.consumer(t, "careful")
		key := g.key(t, "careful", keygate.KeyRequest{})
		req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate?apikey="+key.Key, nil)
		if resp := do(t, req); resp.StatusCode != 401 {
			t.Errorf("key in the query: %d, want 401", resp.StatusCode)
		}
		req, _ = http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", strings.NewReader(`{"grace_period": 600}`))
		req.Header.Set("apikey", key.Key)
		if resp := do(t, req); resp.StatusCode != 201 {
			t.Fatalf("rotation: %d", resp.StatusCode)
		}
		for range 8 { // the old key is rotated already: 409, which is not counted
			req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", nil)
			req.Header.Set("apikey", key.Key)
			if resp := do(t, req); resp.StatusCode != 409 {
				t.Fatalf("second rotation: %d, want 409", resp.StatusCode)
			}
		}
		other := g.key(t, "careful", keygate.KeyRequest{})
		req, _ = http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", nil)
		req.Header.Set("apikey", other.Key)
		if resp := do(t, req); resp.StatusCode != 201 {
			t.Errorf("refused rotations used up the consumer's limit: %d", resp.StatusCode)
		}
	})

	t.Run("self-service rotation is rate-limited per consumer", func(t *testing.T) {
		g.consumer(t, "busy")
		key := g.key(t, "busy", keygate.KeyRequest{}).Key
		statuses := []int{}
		for range 7 {
			req, _ := http.NewRequest("POST", g.proxyURL+"/.keygate/rotate", strings.NewReader(`{"grace_period": 0}`))
			req.Header.Set("apikey", key)
			resp := do(t, req)
			var r keygate.KeyRotation
			json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == 201 {
				key = r.Key.Key
			} else if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		if got := fmt.Sprint(statuses); got != "[201 201 201 201 201 429 429]" {
			t.Errorf("statuses %s, want five rotations then 429", got)
		}
	})
}
