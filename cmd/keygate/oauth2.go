package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/lease"
	"github.com/keygate/keygate/oauth2server"
)

// oauth2Config is serve's OAuth 2.0 authorization server settings.
type oauth2Config struct {
	Enabled  bool
	Issuer   string
	Audience string
	// The signing keys' rotation policy: the algorithm of new keys, how
	// long a key signs, how long before that a new key is published; and
	// how often each node reads the key set again.
	SigningAlg    string
	SignFor       time.Duration
	PublishBefore time.Duration
	KeyCheck      time.Duration
}

func (c *oauth2Config) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&c.Enabled, "oauth2", false, "serve the OAuth 2.0 authorization server (client credentials grant) on the proxy listener: /oauth2/token, /oauth2/introspect, /oauth2/revoke, /oauth2/jwks, /.well-known/oauth-authorization-server")
	fs.StringVar(&c.Issuer, "oauth2-issuer", "", "the issuer of access tokens (iss) and base URL of the OAuth 2.0 endpoints, an https URL as clients reach the gateway (default: http://<proxy listener address>, http://localhost:<port> when it listens on every address; for local use only)")
	fs.StringVar(&c.Audience, "oauth2-audience", "", "the audience (aud) of access tokens (default: the issuer)")
	fs.StringVar(&c.SigningAlg, "oauth2-signing-alg", accesstoken.ES256, "algorithm of new access token signing keys: ES256 or EdDSA")
	fs.DurationVar(&c.SignFor, "oauth2-key-rotation", 30*24*time.Hour, "how long an access token signing key signs before the next one takes over")
	fs.DurationVar(&c.PublishBefore, "oauth2-key-publish-before", 24*time.Hour, "how long a new signing key is published in the JWKS before it signs: longer than gateways and resource servers cache the JWKS")
	fs.DurationVar(&c.KeyCheck, "oauth2-key-check", time.Minute, "how often each node reads the signing keys again (another node may have rotated them) and, under a lease, rotates them when due")
}

// policy is the rotation policy the flags give. A retiring key stays
// published as long as a token it signed can live, plus the leeway and
// the time the other nodes take to see the change.
func (c *oauth2Config) policy() (accesstoken.RotationPolicy, error) {
	p := accesstoken.RotationPolicy{Alg: c.SigningAlg, SignFor: c.SignFor, PublishBefore: c.PublishBefore,
		KeepAfter: keygate.MaxTokenLifetime*time.Second + accesstoken.DefaultLeeway + c.KeyCheck}
	if c.KeyCheck <= 0 {
		return p, errors.New("--oauth2-key-check: must be positive")
	}
	if c.PublishBefore <= c.KeyCheck+time.Minute {
		return p, errors.New("--oauth2-key-publish-before: must exceed --oauth2-key-check plus the JWKS's one-minute cache lifetime")
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("--oauth2-*: %w", err)
	}
	return p, nil
}

// signingKeysLease is the lease under which one node rotates the signing
// keys: two nodes saving the sealed set at once would overwrite each other.
const signingKeysLease = "oauth2-signing-keys"

// oauth2Node is one node's authorization server and its signing keys.
type oauth2Node struct {
	m      *Main
	ring   accesstoken.Sealer
	policy accesstoken.RotationPolicy
	holder string
	lease  *lease.Runner
}

// loadDenylist loads the node's denylist of revoked access tokens (made in
// Run: every node has one, the gateway's oauth2 routes read it, whether or
// not it serves the authorization server). It runs once the change hooks
// are in place, so that a revocation made meanwhile is in the store read
// or among the changes applied.
func (m *Main) loadDenylist(ctx context.Context) error {
	if err := m.Denylist.Load(ctx); err != nil {
		return fmt.Errorf("revoked access tokens: %w", err)
	}
	return nil
}

// setupOAuth2 makes the authorization server with its signing keys, when
// --oauth2 is set.
func (m *Main) setupOAuth2(ctx context.Context, ring accesstoken.Sealer, hasher *apikey.Hasher) error {
	c := m.Config.OAuth2
	if !c.Enabled {
		return nil
	}
	if !m.Config.gateway() {
		return errors.New("--oauth2: the authorization server is served on the proxy listener, which --role admin does not run")
	}
	policy, err := c.policy()
	if err != nil {
		return err
	}
	if c.Issuer != "" {
		if err := accesstoken.ValidIssuer(c.Issuer); err != nil {
			return fmt.Errorf("--oauth2-issuer: %w", err)
		}
	}
	issuer, audience := m.oauth2Issuer()
	if c.Issuer == "" {
		m.Logger.Warn("--oauth2-issuer is not set: access tokens are issued for " + issuer + ", which only local clients reach")
	}
	srv, err := oauth2server.New(oauth2server.Config{Issuer: issuer, Audience: audience, Store: m.Store, Hasher: hasher,
		Denylist: m.Denylist, Replay: m.Replay, Events: m.Webhooks, Metrics: m.Metrics, Logger: m.Logger, Now: m.Now})
	if err != nil {
		return err
	}
	m.TokenServer = srv
	n := &oauth2Node{m: m, ring: ring, policy: policy, holder: lease.NewHolder()}
	n.lease = &lease.Runner{Store: m.Store, Name: signingKeysLease, Holder: n.holder, TTL: max(3*c.KeyCheck, 30*time.Second), Logger: m.Logger}
	if err := n.ensureKeys(ctx); err != nil {
		return err
	}
	m.oauth2 = n
	return nil
}

// endpoints are the authorization server's paths on the proxy listener.
func (m *Main) oauth2Endpoints() map[string]fasthttp.RequestHandler {
	if m.TokenServer == nil {
		return nil
	}
	h := fasthttpadaptor.NewFastHTTPHandler(m.TokenServer)
	out := map[string]fasthttp.RequestHandler{}
	for _, p := range oauth2server.Paths() {
		out[p] = h
	}
	return out
}

// startOAuth2 starts the key jobs.
func (m *Main) startOAuth2() error {
	if m.oauth2 == nil {
		return nil
	}
	n := m.oauth2
	// Every node reads the set again every KeyCheck (a cheap periodic
	// check rather than a change kind: rotations are days apart and
	// publish_before hours ahead, so a minute's delay costs nothing, and a
	// node that missed a message still catches up); one of them, under
	// the lease, rotates it when due.
	m.startBackground(func(ctx context.Context) {
		t := time.NewTicker(m.Config.OAuth2.KeyCheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := n.reload(ctx); err != nil && ctx.Err() == nil {
					m.Logger.Error("oauth2: signing keys not read; signing on with the ones held", "error", err)
				}
			}
		}
	})
	m.startBackground(func(ctx context.Context) {
		n.lease.Run(ctx, func(ctx context.Context) {
			t := time.NewTicker(m.Config.OAuth2.KeyCheck)
			defer t.Stop()
			for {
				if err := n.rotate(ctx); err != nil && ctx.Err() == nil {
					m.Logger.Error("oauth2: signing key rotation failed; retrying at the next check", "error", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	})
	return nil
}

// oauth2Issuer is the "iss" and "aud" of keygate's own access tokens, as
// the token service issues them and the gateway's oauth2 routes expect
// them: --oauth2-issuer (default: the proxy listener's own URL) and
// --oauth2-audience (default: the issuer).
func (m *Main) oauth2Issuer() (issuer, audience string) {
	c := m.Config.OAuth2
	issuer = c.Issuer
	if issuer == "" && m.proxyAddr != nil {
		issuer = defaultIssuer(m.proxyAddr)
	}
	return issuer, cmp.Or(c.Audience, issuer)
}

// defaultIssuer is http://<address> of the proxy listener, localhost for
// an unspecified address.
func defaultIssuer(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (n *oauth2Node) now() time.Time {
	if n.m.Now != nil {
		return n.m.Now()
	}
	return time.Now()
}

// ensureKeys loads the key set; a store without one gets its first key
// from the one node that takes the lease, the others wait for it.
func (n *oauth2Node) ensureKeys(ctx context.Context) error {
	// Longer than the lease's TTL: a node that died holding it lets it go by then.
	deadline := time.Now().Add(75 * time.Second)
	for {
		set, err := accesstoken.Load(ctx, n.m.Store, n.ring)
		if err != nil {
			return err
		}
		if set.Current() != nil {
			n.m.TokenServer.SetKeys(set)
			return nil
		}
		held, err := n.m.Store.AcquireLease(ctx, signingKeysLease, n.holder, 30*time.Second)
		if err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
		if held {
			err := n.rotate(ctx)
			n.m.Store.ReleaseLease(ctx, signingKeysLease, n.holder)
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("signing keys: none in the store, and the node holding the lease to make them has not made them in 75 s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// rotate reads the set, rotates it per the policy and saves it when it
// changed; the node then uses it at once. Run under the lease only.
func (n *oauth2Node) rotate(ctx context.Context) error {
	set, err := accesstoken.Load(ctx, n.m.Store, n.ring)
	if err != nil {
		return err
	}
	next, changed, err := accesstoken.Rotate(set, n.policy, n.now())
	if err != nil {
		return err
	}
	if changed {
		if err := accesstoken.Save(ctx, n.m.Store, n.ring, next); err != nil {
			return err
		}
		n.m.Logger.Info("oauth2: signing keys rotated", "current", keyID(next.Current()), "keys", len(next.Keys))
	}
	n.m.TokenServer.SetKeys(next)
	return nil
}

// reload reads the set another node may have rotated.
func (n *oauth2Node) reload(ctx context.Context) error {
	set, err := accesstoken.Load(ctx, n.m.Store, n.ring)
	if err != nil {
		return err
	}
	if set.Current() != nil {
		n.m.TokenServer.SetKeys(set)
	}
	return nil
}

func keyID(k *accesstoken.SigningKey) string {
	if k == nil {
		return ""
	}
	return k.ID
}
