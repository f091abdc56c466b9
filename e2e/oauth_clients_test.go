package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

var oauthClientHeader = []string{"ID", "CLIENT-ID", "CONSUMER", "NAME", "SCOPES", "AUTH-METHODS", "STATUS", "OLD-SECRET-UNTIL", "CREATED"}

// keygate oauth-clients, run as the binary against a running keygate: the
// secret printed once at creation and once at rotation, never by list or
// get; the old secret's overlap shown; revoke ends the client.
func TestCLIOAuthClients(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	if _, err := e.Client.CreateConsumer(context.Background(), &keygate.Consumer{Username: "acme"}); err != nil {
		t.Fatal(err)
	}

	out := admin(t, "oauth-clients", "create", "acme", "--name", "ci", "--scope", "orders:read", "--scope", "orders:write", "--token-lifetime", "15m")
	list := adminJSON[keygate.List[*keygate.OAuthClient]](t, "oauth-clients", "list", "--consumer", "acme").Data
	if len(list) != 1 {
		t.Fatalf("listed %d clients, want 1", len(list))
	}
	c := list[0]
	if c.Name != "ci" || c.TokenLifetime != 900 || strings.Join(c.Scopes, " ") != "orders:read orders:write" || c.Status != keygate.KeyActive {
		t.Errorf("listed %+v", c)
	}
	secret := secretAfter(t, out, "its client secret:")
	if len(secret) < 32 || !strings.Contains(out, c.ClientID) || !strings.Contains(out, "will not be shown again") {
		t.Fatalf("create printed:\n%s", out)
	}

	rotated := adminJSON[keygate.IssuedOAuthClient](t, "oauth-clients", "rotate-secret", c.ClientID, "--overlap", "1h")
	if len(rotated.ClientSecret) < 32 || rotated.ClientSecret == secret || rotated.PreviousSecretExpiresAt == nil ||
		!rotated.PreviousSecretExpiresAt.Equal(e.Clock.Now().Add(time.Hour)) {
		t.Errorf("rotated %+v", rotated)
	}

	revoked := adminJSON[keygate.OAuthClient](t, "oauth-clients", "revoke", c.ID)
	if revoked.Status != keygate.KeyRevoked || revoked.RevokedAt == nil {
		t.Errorf("revoked %+v", revoked)
	}
	if _, errOut, err := runAdmin(t, "", "oauth-clients", "rotate-secret", c.ClientID); !reported(err) || !strings.Contains(errOut, "revoked") {
		t.Errorf("rotating a revoked client: %v %s", err, errOut)
	}

	table := admin(t, "oauth-clients", "list")
	wantTable(t, table, oauthClientHeader, []string{c.ClientID, "ci", "revoked", "orders:read,orders:write", "client_secret_basic"})
	got := admin(t, "oauth-clients", "get", c.ClientID, "--json")
	for _, shown := range []string{table, got} {
		if strings.Contains(shown, secret) || strings.Contains(shown, rotated.ClientSecret) {
			t.Errorf("a secret shown after its issue:\n%s", shown)
		}
	}

	admin(t, "oauth-clients", "delete", c.ClientID)
	if _, errOut, err := runAdmin(t, "", "oauth-clients", "get", c.ClientID); !reported(err) || !strings.Contains(errOut, "not found") {
		t.Errorf("get after delete: %v %s", err, errOut)
	}
}

// secretAfter returns the first word on the first non-empty line after
// the line ending in marker.
func secretAfter(tb testing.TB, out, marker string) string {
	tb.Helper()
	_, rest, ok := strings.Cut(out, marker)
	if !ok {
		tb.Fatalf("no %q in:\n%s", marker, out)
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		tb.Fatalf("nothing after %q in:\n%s", marker, out)
	}
	return fields[0]
}
