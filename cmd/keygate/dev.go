package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// devDefaults changes the defaults --dev implies, for flags left unset: a
// throwaway data dir, loopback-only listeners and test-environment keys.
func (c *Config) devDefaults(fs *pflag.FlagSet) {
	if !fs.Changed("data-dir") {
		c.DataDir = ""
	}
	if !fs.Changed("proxy-listen") {
		c.ProxyListen = "127.0.0.1:8000"
	}
	if !fs.Changed("key-prefix") {
		c.KeyPrefix = "kg_test"
	}
}

// prepareDev makes the throwaway data dir (removed on Close) and starts the
// demo upstream.
func (m *Main) prepareDev() error {
	if m.Config.DataDir == "" {
		dir, err := os.MkdirTemp("", "keygate-dev-")
		if err != nil {
			return err
		}
		m.Config.DataDir = dir
		m.cleanup = append(m.cleanup, func() { os.RemoveAll(dir) })
	}
	if m.Config.RootKey == "" && m.Config.RootKeyFile == "" {
		// A throwaway root key next to throwaway data: fine for a demo only.
		m.Config.RootKeyFile = filepath.Join(m.Config.DataDir, "root.key")
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if _, err := readOrCreateRootKey(m.Config.RootKeyFile); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo upstream: %w", err)
	}
	m.demoServer = &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	go m.demoServer.Serve(ln)
	m.devUpstream = "http://" + ln.Addr().String()
	return nil
}

// echo is the demo upstream: it answers with what it received, so that one
// can see what keygate forwards (path, identity headers, X-Forwarded-*).
func echo(w http.ResponseWriter, r *http.Request) {
	headers := map[string]string{}
	for name, values := range r.Header {
		if strings.HasPrefix(name, "X-") {
			headers[name] = strings.Join(values, ", ")
		}
	}
	// Read the body whole, so that a caller's upload is answered after it
	// was sent rather than cut off.
	size, _ := io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"service":    "keygate demo upstream",
		"method":     r.Method,
		"path":       r.URL.Path,
		"query":      r.URL.RawQuery,
		"headers":    headers,
		"body_bytes": size,
	})
}

// seedDev creates the demo service, an open and a key-protected route, a
// consumer and one key for it, unless an earlier run already did.
func (m *Main) seedDev(ctx context.Context, format *apikey.Format, hasher *apikey.Hasher) error {
	if _, err := m.Store.FindService(ctx, "demo"); err == nil {
		return nil
	}
	svc := keygate.NewService()
	svc.Name, svc.URL = "demo", m.devUpstream
	if err := m.Store.CreateService(ctx, svc); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	open := keygate.NewRoute()
	open.Name, open.Service, open.Paths = "demo-public", keygate.Ref{ID: svc.ID}, []string{"/public"}
	guarded := keygate.NewRoute()
	guarded.Name, guarded.Service, guarded.Paths = "demo", keygate.Ref{ID: svc.ID}, []string{"/demo"}
	guarded.KeyAuth = keygate.NewKeyAuthConfig()
	// A usage plan, so that the demo answers show the rate-limit headers.
	plan := keygate.NewPlan()
	plan.Name, plan.Description, plan.Rate, plan.Burst, plan.Quotas = "demo", "dev mode's demo plan", 5, 10, keygate.Quotas{Minute: 100}
	consumer := keygate.NewConsumer()
	consumer.Username, consumer.Groups = "demo", []string{"demo"}
	for _, create := range []func() error{
		func() error { return m.Store.CreateRoute(ctx, open) },
		func() error { return m.Store.CreateRoute(ctx, guarded) },
		func() error { return m.Store.CreatePlan(ctx, plan) },
		func() error {
			consumer.Plan = &keygate.Ref{ID: plan.ID}
			return m.Store.CreateConsumer(ctx, consumer)
		},
	} {
		if err := create(); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
	}
	k, err := format.Generate()
	if err != nil {
		return err
	}
	sum := hasher.Hash(k)
	key := &keygate.APIKey{
		Consumer: keygate.Ref{ID: consumer.ID}, Name: "demo", Prefix: k.Prefix(), Start: k.Start(),
		Identifier: k.Identifier(), SecretHash: sum[:], Status: keygate.KeyActive,
		AllowedServices: []string{}, AllowedRoutes: []string{}, AllowedCIDRs: []string{}, Tags: []string{},
	}
	if err := m.Store.CreateKey(ctx, key); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	m.devKey = k.Reveal()
	return nil
}

func (m *Main) printDevBanner() {
	proxyURL, adminURL := m.ProxyURL(), m.AdminURL()
	token, key := m.Config.AdminToken, m.devKey
	if token == "" {
		token = "<the token printed when this data dir was created>"
	}
	if key == "" {
		key = "<the key printed when this data dir was created>"
	}
	fmt.Fprintf(m.Out, `
keygate is running in dev mode (data in %s)
  proxy:        %s
  admin API:    %s
  admin token:  %s
  demo key:     %s   (consumer "demo" on plan "demo": 5/s, 100 a minute; shown once)

Try it:
  curl -i %s/demo/hello -H 'apikey: %s'
  curl -i %s/demo/hello                # refused: 401, no key
  curl -i %s/public/hello              # an open route to the same service

Use the CLI (in another terminal):
  export KEYGATE_ADMIN_URL=%s KEYGATE_ADMIN_TOKEN=%s
  go run ./cmd/keygate consumers list
  go run ./cmd/keygate keys create demo

`, m.Config.DataDir, proxyURL, adminURL, token, key, proxyURL, key, proxyURL, proxyURL, adminURL, token)
}
