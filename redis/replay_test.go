package redis

import (
	"errors"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth/hmacauth"
)

func TestReplayGuardAcceptsASignatureOnceAcrossNodes(t *testing.T) {
	c, prefix := testClient(t)
	other := newClient(t) // another node's connection
	t.Cleanup(func() { other.Close() })
	a, b := NewReplayGuard(c, prefix, 3, nil), NewReplayGuard(other, prefix, 3, nil)
	until := time.Now().Add(time.Minute)
	seen := func(g *ReplayGuard, cred, sig string) bool {
		t.Helper()
		s, err := g.Seen(t.Context(), cred, sig, until)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen(a, "alice", "sig-1") {
		t.Fatal("a new signature was seen before")
	}
	if !seen(b, "alice", "sig-1") {
		t.Fatal("node b accepted the signature node a had accepted")
	}
	if seen(b, "bob", "sig-1") {
		t.Fatal("bob's signature was taken for alice's")
	}
	if seen(a, "{odd}:name", "sig-1") || !seen(b, "{odd}:name", "sig-1") {
		t.Fatal("a credential name with braces is not guarded")
	}
}

func TestReplayGuardForgetsAfterTheWindow(t *testing.T) {
	c, prefix := testClient(t)
	g := NewReplayGuard(c, prefix, 10, nil)
	until := time.Now().Add(200 * time.Millisecond)
	if s, err := g.Seen(t.Context(), "alice", "sig", until); s || err != nil {
		t.Fatalf("Seen = %v, %v", s, err)
	}
	time.Sleep(300 * time.Millisecond)
	// Past its date the signature is refused by its date check anyway;
	// the guard only has to stop holding it.
	if s, err := g.Seen(t.Context(), "alice", "sig", time.Now().Add(time.Minute)); s || err != nil {
		t.Fatalf("after expiry: Seen = %v, %v; want a new signature", s, err)
	}
}

func TestReplayGuardBoundsACredentialsShare(t *testing.T) {
	c, prefix := testClient(t)
	g := NewReplayGuard(c, prefix, 2, nil)
	until := time.Now().Add(time.Minute)
	for _, sig := range []string{"s1", "s2"} {
		if _, err := g.Seen(t.Context(), "alice", sig, until); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Seen(t.Context(), "alice", "s3", until); !errors.Is(err, hmacauth.ErrReplayQuota) {
		t.Fatalf("third signature: %v, want ErrReplayQuota", err)
	}
	if s, err := g.Seen(t.Context(), "alice", "s1", until); !s || err != nil {
		t.Fatalf("a replay at the share: Seen = %v, %v; want a replay", s, err)
	}
	if _, err := g.Seen(t.Context(), "bob", "s3", until); err != nil {
		t.Fatalf("another credential is not limited by alice's share: %v", err)
	}
}

func TestReplayGuardRedisDownIsUnavailable(t *testing.T) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer c.Close()
	_, err := NewReplayGuard(c, "x:", 0, nil).Seen(t.Context(), "alice", "sig", time.Now().Add(time.Minute))
	if keygate.ErrorCode(err) != keygate.EUNAVAILABLE {
		t.Fatalf("error %v, want EUNAVAILABLE", err)
	}
}
