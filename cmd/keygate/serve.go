package main

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/accesstoken"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/anomaly"
	"github.com/keygate/keygate/apikey"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/keygate/keygate/auth/oauth2"
	"github.com/keygate/keygate/changelog"
	"github.com/keygate/keygate/inmem"
	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/lease"
	"github.com/keygate/keygate/lifecycle"
	"github.com/keygate/keygate/limiting"
	"github.com/keygate/keygate/meter"
	"github.com/keygate/keygate/metrics"
	"github.com/keygate/keygate/oauth2server"
	"github.com/keygate/keygate/proxy"
	"github.com/keygate/keygate/redis"
	"github.com/keygate/keygate/sessioncrypto"
	"github.com/keygate/keygate/webhook"
	"github.com/valyala/fasthttp"
)

func newServeCommand() *cobra.Command {
	var cfg Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway and the admin API",
		Long: `Run the gateway (proxy listener) and the admin API (admin listener).

In a cluster, --role splits them: gateway nodes run the proxy listener only,
admin nodes the admin API, the background jobs (on one admin node at a time,
under a lease in the store) and webhook deliveries.

Every flag can also be set with the KEYGATE_* environment variable shown next
to it, or in the YAML file given with --config (command line > environment >
file > default). Secrets come from the environment only:
  KEYGATE_ROOT_KEY     the root key in base64, instead of --root-key-file
  KEYGATE_PEPPER       only to import the API key pepper of a keygate from
                       before the keyring (it is sealed in the store now)
  KEYGATE_ADMIN_TOKEN  admin token to accept; without it, and while no token
                       exists, one is generated and printed once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.load(cmd.Flags()); err != nil {
				return err
			}
			if cfg.Dev {
				cfg.devDefaults(cmd.Flags())
			}
			// The gateway's live heap is small and its garbage is all per
			// request, so Go's default (GOGC=100) collects every few hundred
			// requests; 400 trades some memory for 3–11% less CPU per
			// request, measured on a noisy machine (docs/benchmarks.md). GOGC in the environment wins.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400)
			}
			m := &Main{Config: cfg, Out: cmd.OutOrStdout()}
			if err := m.Run(cmd.Context()); err != nil {
				m.Close()
				return err
			}
			<-cmd.Context().Done()
			m.Logger.Info("shutting down")
			return m.Close()
		},
	}
	cfg.addFlags(cmd.Flags())
	return cmd
}

// Main is the wired program: tests start it in-process exactly as serve does.
type Main struct {
	Config Config
	Out    io.Writer // where the one-time admin token and the dev banner go
	Logger *slog.Logger
	// Now, when a test sets it, is the clock of the store, the verifier and
	// the admin API. Left nil, the store and the admin API read time.Now and
	// the verifier its own cheap coarse clock, which is what the hot path
	// wants.
	Now func() time.Time

	Store    keygate.Store // SQLite or PostgreSQL (--store)
	Keyring  *keyring.Manager
	Verifier *keyauth.Verifier
	// KeyFilter holds every issued key identifier (built in the background
	// at start, kept current by the changes the verifier gets).
	KeyFilter *keyauth.Filter
	HMAC      *hmacauth.Credentials
	OAuth2    *oauth2.Provider    // access tokens on routes with oauth2
	Webhooks  *webhook.Dispatcher // keygate.Publisher of every event
	Proxy     *proxy.Proxy
	// Limiter enforces usage plans; Meter counts usage; Metrics is served
	// at /metrics on the admin listener.
	Limiter keygate.RateLimiter
	// limitEvents sends the credits' and quotas' events for the gateway
	// and the verify API; failOpen is the rate limiter's choice for both.
	limitEvents *limiting.Events
	failOpen    bool
	Replay      hmacauth.ReplayGuard // HMAC signatures seen: in memory, or in Redis with --redis-url
	Meter       *meter.Meter
	Metrics     *metrics.Metrics
	// Anomaly watches the gateway's requests (--anomaly); nil when off.
	Anomaly *anomaly.Detector
	// Jobs are the lifecycle jobs Run starts every minute, on an admin node
	// holding JobLease; tests call RunOnce to run them at a moment of their
	// choosing.
	Jobs *lifecycle.Jobs
	// Holder names this node in the leases it takes (host and a random
	// part); JobLease is the lease the jobs run under (nil on a gateway
	// node).
	Holder   string
	JobLease *lease.Runner
	// Reconciler applies the store's change log to the caches every
	// --reconcile-interval; nil when that is 0.
	Reconciler *changelog.Reconciler
	// Denylist holds the revoked access tokens' jtis (every node);
	// TokenServer is the authorization server (nil without --oauth2).
	Denylist    *accesstoken.Denylist
	TokenServer *oauth2server.Server
	oauth2      *oauth2Node

	// WarmFrom, when a test sets it, is what the warm-up reads instead of
	// Store (to hold it back, say).
	WarmFrom keyauth.RecentKeys
	// ready is set once the node's caches are warm (see warm): /readyz
	// and --ready-path answer 200 from then on.
	ready atomic.Bool

	proxyServer             *fasthttp.Server
	adminServer, demoServer *http.Server
	portalServer            *http.Server
	portalAddr              net.Addr
	proxyListener           net.Listener
	proxyAddr, adminAddr    net.Addr
	cleanup                 []func()
	background              sync.WaitGroup
	backgroundCtx           context.Context
	stopBackgroundFn        func()
	devUpstream, devKey     string
	redis                   *goredis.Client // nil without --redis-url
	readiness               readiness       // /readyz's checks (observe.go)
	accessLog               *asyncWriter    // nil without --access-log
	changes                 *redis.ChangeBus
}

// Run opens the store, wires the parts and starts serving; it returns once
// the listeners of the node's role accept connections.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Out == nil {
		m.Out = io.Discard
	}
	if m.Logger == nil {
		if m.Logger, err = newLogger(m.Config.LogLevel, m.Config.LogFormat); err != nil {
			return err
		}
	}
	if err := m.Config.validateRole(); err != nil {
		return err
	}
	if err := m.Config.validateCaches(); err != nil {
		return err
	}
	if err := m.Config.Anomaly.Validate(); err != nil {
		return err
	}
	if m.Config.JobsInterval < 0 {
		return errors.New("--jobs-interval: must not be negative")
	}
	if m.Now == nil && m.Config.ClockFile != "" {
		if m.Now, err = fileClock(m.Config.ClockFile); err != nil {
			return err
		}
		m.Logger.Warn("--clock-file is set: this node's clock is a file's modification time (for tests only)", "file", m.Config.ClockFile)
	}
	if m.Config.Dev {
		if err := m.prepareDev(); err != nil {
			return err
		}
	}
	format, err := apikey.NewFormat(m.Config.KeyPrefix, m.Config.AcceptedPrefixes...)
	if err != nil {
		return fmt.Errorf("--key-prefix/--accepted-key-prefixes: %w", err)
	}
	trusted, err := keygate.ParseCIDRs("--trusted-proxies", m.Config.TrustedProxies)
	if err != nil {
		return errors.New(keygate.ErrorMessage(err))
	}
	upstreamRoots, err := loadCertPool(m.Config.UpstreamCAFile)
	if err != nil {
		return fmt.Errorf("--upstream-ca-file: %w", err)
	}
	if err := m.Config.validateStore(); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	root, err := m.Config.loadRootKey()
	if err != nil {
		return err
	}

	// The store tells the caches about every committed change; the hook is set
	// before anything is written, so none is missed.
	var onChange []keygate.ChangeFunc
	m.Store, err = m.Config.openStore(ctx, m.Now /* nil: time.Now */, func(c keygate.Change) {
		for _, f := range onChange {
			f(c)
		}
	}, false)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	ring, err := keyring.Init(ctx, root, m.Store)
	if err != nil {
		return err
	}
	m.Keyring = &keyring.Manager{Ring: ring, Root: root, Store: m.Store}
	pepper, err := m.loadPepper(ctx)
	if err != nil {
		return err
	}
	hasher, err := apikey.NewHasher(pepper)
	if err != nil {
		return fmt.Errorf("pepper: %w", err)
	}
	if m.Config.RefusalDelay < 0 || m.Config.RefusalDelay > 10*time.Second {
		return errors.New("--refusal-delay: must be from 0 to 10s")
	}
	if m.Config.UnknownKeyReads < 0 {
		return errors.New("--unknown-key-reads: must be 0 or more")
	}
	unknownReads := m.Config.UnknownKeyReads
	if unknownReads == 0 {
		unknownReads = -1 // none (0 is the default to the filter)
	}
	m.KeyFilter = keyauth.NewFilter(m.Store, keyauth.FilterOptions{UnknownReads: unknownReads, Logger: m.Logger})
	// Concurrent cache misses of different keys share one read
	// (keyauth.Batch): on PostgreSQL one round trip and statement, half the
	// server's CPU per miss; on SQLite one read transaction for the batch's
	// one-key reads (docs/benchmarks.md).
	lookup := keyauth.NewBatch(m.Store, 0, 0)
	m.Verifier = keyauth.NewVerifier(lookup, format, hasher, keyauth.Options{Now: m.Now, StaleWindow: m.Config.StaleCacheWindow, // Now nil: the coarse clock
		CacheSize: m.Config.KeyCacheSize, Filter: m.KeyFilter})
	if err := acceptImportedKeys(ctx, m.Store, m.Verifier); err != nil {
		return err
	}
	m.HMAC = hmacauth.NewCredentials(m.Store, ring.Open, hmacauth.Options{Now: m.Now, StaleWindow: m.Config.StaleCacheWindow})
	// Events are queued in the store; Run (started below) delivers them.
	if m.Webhooks, err = webhook.New(m.Store, webhook.Options{Open: ring.Open, Logger: m.Logger, Now: m.Now,
		Attempted: func(result string) { m.Metrics.WebhookDelivery(result) }}); err != nil {
		return err
	}
	rotator := &lifecycle.Rotator{Store: m.Store, Keys: format, Hasher: hasher, Events: m.Webhooks, Now: m.Now,
		Seal: ring.Seal, Open: ring.Open, PickupPath: m.Config.SelfRotatePath}
	m.Metrics = metrics.New()
	m.Metrics.KeyFilter(func() metrics.KeyFilterStats {
		s := m.KeyFilter.Stats()
		return metrics.KeyFilterStats{Identifiers: s.Keys + s.Recent, Bytes: s.Bytes,
			Admitted: s.Admitted, UnknownReads: s.UnknownReads, Rejected: s.Rejected}
	})
	m.Metrics.KeyCache(func() metrics.KeyCacheStats { return metrics.KeyCacheStats(m.Verifier.CacheStats()) })
	failOpen, err := m.openLimiter(ctx)
	if err != nil {
		return err
	}
	if m.Replay == nil {
		m.Replay = hmacauth.NewReplayCache(hmacauth.ReplayOptions{Now: m.Now})
	}
	if m.Config.UsageFlushInterval > 0 {
		m.Meter = meter.New(m.Store, meter.Options{FlushInterval: m.Config.UsageFlushInterval, BatchSize: m.Config.usageBatch(),
			Logger: m.Logger, Metrics: m.Metrics})
	}
	anomalies, err := m.newAnomalyDetector()
	if err != nil {
		return err
	}
	m.Denylist = accesstoken.NewDenylist(m.Store, m.Now)
	if err := m.listenProxy(); err != nil {
		return err
	}
	if err := m.setupOAuth2(ctx, ring, hasher); err != nil {
		return err
	}
	m.OAuth2 = m.newOAuth2Provider(ring)
	// Payload encryption: on a cluster, an envelope is checked against
	// Redis too, so one replayed to another node is refused.
	payload := &proxy.PayloadConfig{Store: m.Store, Seal: ring.Seal, Open: ring.Open, Events: m.Webhooks}
	m.limitEvents, m.failOpen = &limiting.Events{Logger: m.Logger, Now: m.Now}, failOpen
	if m.Webhooks != nil {
		m.limitEvents.Publisher = m.Webhooks
	}
	if m.redis != nil {
		payload.Shared = redis.NewPayloadWindow(m.redis, m.Config.RedisPrefix, sessioncrypto.WindowSize, m.Now)
	}
	proxyCfg := proxy.Config{Endpoints: m.oauth2Endpoints(), Payload: payload, TrustedProxies: trusted, UpstreamRoots: upstreamRoots, Logger: m.Logger, HMAC: m.HMAC, Replay: m.Replay, Now: m.Now, OAuth2: m.OAuth2,
		Rotator: rotator, SelfRotatePath: m.Config.SelfRotatePath, HealthPath: m.Config.HealthPath, ReadyPath: m.Config.ReadyPath, Ready: m.nodeReady, Pickup: rotator, ExpiryNotice: m.Config.KeyExpiryNotice,
		Limiter: m.Limiter, RateLimitFailOpen: failOpen, Metrics: m.Metrics, Meter: m.Meter, RefusalDelay: m.Config.RefusalDelay,
		Anomalies: anomalies, Credits: m.Store, LimitEvents: m.limitEvents}
	if err := m.observeProxy(&proxyCfg); err != nil {
		return err
	}
	m.Proxy = proxy.New(m.Store, m.Verifier, proxyCfg)
	m.Metrics.UpstreamTargets(func() []metrics.TargetHealth {
		var out []metrics.TargetHealth
		for _, t := range m.Proxy.TargetStates() {
			out = append(out, metrics.TargetHealth{Service: t.Service, Target: t.URL, State: t.Health})
		}
		return out
	})
	caches := []keygate.ChangeFunc{m.Verifier.Apply, m.HMAC.Apply, m.OAuth2.Apply, m.Proxy.Apply, m.Denylist.Apply}
	applyToCaches := func(c keygate.Change) {
		for _, apply := range caches {
			apply(c)
		}
	}
	onChange = append([]keygate.ChangeFunc{}, caches...)
	if m.Config.ReconcileInterval > 0 {
		// Set at the latest change before the caches hold anything: what
		// came before is in the store they read.
		m.Reconciler = &changelog.Reconciler{Log: m.Store, Apply: applyToCaches, Interval: m.Config.ReconcileInterval, Logger: m.Logger}
		if err := m.Reconciler.Start(ctx); err != nil {
			return fmt.Errorf("change log: %w", err)
		}
	}
	if m.redis != nil {
		// The other nodes' changes reach these caches through Redis, and
		// this node's reach theirs.
		m.changes = redis.NewChangeBus(m.redis, m.Config.RedisPrefix, m.Logger)
		onChange = append(onChange, m.changes.Publish)
	}
	if err := m.loadDenylist(ctx); err != nil {
		return err
	}

	// Admin tokens are the admin API's: a gateway node neither takes
	// KEYGATE_ADMIN_TOKEN nor makes and prints one.
	if m.Config.admin() {
		if err := m.bootstrapAdminToken(ctx); err != nil {
			return err
		}
	}
	if m.Config.Dev {
		if err := m.seedDev(ctx, format, hasher); err != nil {
			return err
		}
	}
	if err := m.Proxy.Reload(ctx); err != nil {
		return fmt.Errorf("load routes: %w", err)
	}
	if m.Config.admin() {
		if err := m.serveAdmin(format, hasher, rotator); err != nil {
			return err
		}
	}
	if m.Config.gateway() {
		if err := m.serveProxy(); err != nil {
			return err
		}
		if err := m.startOAuth2(); err != nil {
			return err
		}
	}
	m.Holder = lease.NewHolder()
	m.Jobs = &lifecycle.Jobs{Store: m.Store, Events: m.Webhooks, Logger: m.Logger, Now: m.Now, Notice: m.Config.KeyExpiryNotice,
		ArchiveAfter: m.Config.ArchiveAfter, Retention: m.Config.Retention, Rotator: rotator, UsageRetention: m.Config.UsageRetention,
		ChangeRetention: changeRetention(m.Config.ReconcileInterval), Ran: func(failed bool) { m.Metrics.JobRun("lifecycle", failed) }}
	if m.Config.admin() {
		// The jobs are safe on several nodes at once; the lease only saves
		// doing them N times over. Webhook deliveries need no lease of
		// their own: the store leases each delivery to one dispatcher, so
		// every admin node sends its share, and sends the events queued
		// through its own admin API at once.
		ttl := m.Config.JobLeaseTTL
		if ttl == 0 {
			ttl = 30 * time.Second
		}
		m.JobLease = &lease.Runner{Store: m.Store, Name: jobsLease, Holder: m.Holder, TTL: ttl, Logger: m.Logger}
		m.startBackground(func(ctx context.Context) {
			m.JobLease.Run(ctx, func(ctx context.Context) { m.Jobs.Run(ctx, cmp.Or(m.Config.JobsInterval, time.Minute)) })
		})
		m.startBackground(func(ctx context.Context) { m.Webhooks.Run(ctx) })
	}
	// Built after the change hooks are in place, so that a key created
	// while the store is listed is added either way.
	m.startBackground(m.KeyFilter.Run)
	if m.Reconciler != nil {
		m.startBackground(m.Reconciler.Run)
	}
	if m.changes != nil {
		m.startBackground(func(ctx context.Context) {
			m.changes.Run(ctx, applyToCaches, func() {
				m.Verifier.Flush()
				m.HMAC.Flush()
				m.Proxy.Resync()
				if err := m.Denylist.Load(ctx); err != nil {
					m.Logger.Warn("after missed changes", "error", err)
				}
				// A key imported elsewhere may be among the changes missed.
				if err := acceptImportedKeys(ctx, m.Store, m.Verifier); err != nil {
					m.Logger.Warn("after missed changes", "error", err)
				}
			})
		})
	}
	if m.Meter != nil {
		m.startBackground(m.Meter.Run)
	}
	if m.Anomaly != nil {
		m.startBackground(m.Anomaly.Run)
	}
	m.startBackground(m.beat)
	// The listeners serve already; only readiness waits for the warm-up.
	if m.Config.WarmWindow > 0 {
		m.startBackground(m.warm)
	} else {
		m.ready.Store(true)
	}
	m.Logger.Info("keygate started", "role", m.Config.Role, "proxy", m.ProxyURL(), "admin", m.AdminURL(), "portal", m.PortalURL(), "node", m.Holder, "data_dir", m.Config.DataDir)
	if m.Config.Dev {
		m.printDevBanner()
	}
	return nil
}

func (m *Main) listen(name, addr string, h http.Handler) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s listener: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error(name+" listener stopped", "error", err)
		}
	}()
	return srv, ln.Addr(), nil
}

// listenProxy opens the proxy listener (on a gateway node) before the
// proxy is built, so that its address, which the OAuth 2.0 issuer defaults
// to, is known; connections wait in its backlog until serveProxy.
func (m *Main) listenProxy() error {
	if !m.Config.gateway() {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.ProxyListen)
	if err != nil {
		return fmt.Errorf("proxy listener: %w", err)
	}
	m.proxyListener, m.proxyAddr = ln, ln.Addr()
	m.cleanup = append(m.cleanup, func() { ln.Close() }) // when it was never served
	return nil
}

// serveProxy starts serving the proxy listener.
func (m *Main) serveProxy() error {
	ln := m.proxyListener
	m.proxyServer = proxy.NewServer(m.Proxy, m.Logger)
	go func() {
		if err := m.proxyServer.Serve(ln); err != nil {
			m.Logger.Error("proxy listener stopped", "error", err)
		}
	}()
	return nil
}

// Ready reports whether the node has warmed its caches (see warm).
func (m *Main) Ready() bool { return m.ready.Load() }

// warm loads the API keys used within --warm-window into the key cache,
// then marks the node ready. A node that restarts in a busy cluster would
// otherwise meet its whole working set with a cold cache: a store read per
// key at once. A failed warm-up is logged and the node becomes ready all the
// same: a cold cache is slower, not wrong.
func (m *Main) warm(ctx context.Context) {
	defer m.ready.Store(true)
	start := time.Now()
	since := start.Add(-m.Config.WarmWindow)
	if m.Now != nil {
		since = m.Now().Add(-m.Config.WarmWindow)
	}
	var from keyauth.RecentKeys = m.Store
	if m.WarmFrom != nil {
		from = m.WarmFrom
	}
	n, err := m.Verifier.Warm(ctx, from, since, keyauth.WarmOptions{})
	if err != nil && ctx.Err() == nil {
		m.Logger.Warn("key cache warm-up stopped; the keys not loaded are read on their first request", "keys", n, "error", err)
		return
	}
	m.Logger.Info("key cache warmed", "keys", n, "window", m.Config.WarmWindow, "took", time.Since(start).Round(time.Millisecond))
}

// startBackground runs fn in a goroutine until Close.
func (m *Main) startBackground(fn func(ctx context.Context)) {
	if m.stopBackgroundFn == nil {
		ctx, cancel := context.WithCancel(context.Background())
		m.stopBackgroundFn = func() { cancel(); m.background.Wait() }
		m.backgroundCtx = ctx
	}
	m.background.Go(func() { fn(m.backgroundCtx) })
}

// stopBackground stops what startBackground started and waits for it.
func (m *Main) stopBackground() {
	if m.stopBackgroundFn != nil {
		m.stopBackgroundFn()
	}
}

// jobsLease is the name of the lease the lifecycle jobs run under.
const jobsLease = "lifecycle-jobs"

// serveAdmin starts the admin listener: the admin API and UI, and /metrics.
func (m *Main) serveAdmin(format *apikey.Format, hasher *apikey.Hasher, rotator *lifecycle.Rotator) error {
	var leakKeys map[string]*ecdsa.PublicKey
	if m.Config.LeakReportKeys != "" {
		data, err := os.ReadFile(m.Config.LeakReportKeys)
		if err != nil {
			return fmt.Errorf("--leak-report-keys: %w", err)
		}
		if leakKeys, err = adminapi.ParseLeakReportKeys(data); err != nil {
			return fmt.Errorf("--leak-report-keys: %w", err)
		}
	}
	admin := &adminapi.Server{LeakReportKeys: leakKeys, Store: m.Store, Verifier: m.Verifier, Keys: format, Hasher: hasher, Keyring: m.Keyring, Rotator: rotator, Events: m.Webhooks, Logger: m.Logger, Now: m.Now,
		TargetHealth: m.Proxy.TargetHealth, Limiter: m.Limiter, RateLimitFailOpen: m.failOpen, LimitEvents: m.limitEvents, Meter: m.Meter}
	if m.Meter != nil {
		admin.Verifications = m.Meter // verify calls counted for the analytics
	}
	adminMux := http.NewServeMux()
	adminMux.Handle("GET /metrics", m.Metrics.Handler()) // counts only, no identities: open like Kong's status API
	adminMux.HandleFunc("GET /readyz", m.serveReady)     // open, as /healthz
	adminMux.Handle("/", admin.Handler())
	ui, err := m.console(admin)
	if err != nil {
		return err
	}
	adminMux.Handle("/ui/", ui) // the admin console: its own sign-in, sessions and CSRF tokens
	m.adminServer, m.adminAddr, err = m.listen("admin", m.Config.AdminListen, adminMux)
	if err != nil {
		return err
	}
	return m.servePortal(admin) // the consumer portal, on a listener of its own when --portal-listen is set
}

// ProxyURL and AdminURL are where the listeners ended up (useful with port
// 0); "" for a listener this node's role does not run.
func (m *Main) ProxyURL() string { return listenerURL(m.proxyAddr) }
func (m *Main) AdminURL() string { return listenerURL(m.adminAddr) }

func listenerURL(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return "http://" + addr.String()
}

// Close stops accepting, lets requests in flight finish (up to the shutdown
// timeout), closes the proxy and then the store.
func (m *Main) Close() error {
	timeout := m.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	m.stopBackground()
	if m.Webhooks != nil {
		m.Webhooks.Close()
	}
	if m.proxyServer != nil {
		errs = append(errs, m.proxyServer.ShutdownWithContext(ctx))
	}
	for _, srv := range []*http.Server{m.adminServer, m.portalServer, m.demoServer} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	if m.Proxy != nil {
		m.Proxy.Close() // after the listeners: requests in flight have finished
	}
	if m.accessLog != nil {
		errs = append(errs, m.accessLog.Close())
	}
	if m.Meter != nil {
		// Every request has been counted now; the counts get a moment of
		// their own to reach the store, whatever the listeners took.
		flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, m.Meter.Close(flushCtx))
		cancel()
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	for _, f := range m.cleanup {
		f()
	}
	return errors.Join(errs...)
}

// changeRetention is how long the change log keeps a change: an hour, far
// more than any node needs to read it, or more with a reconcile interval
// that long. The lifecycle jobs prune it (on the admin node holding their
// lease), whether or not that node runs the reconciler.
func changeRetention(interval time.Duration) time.Duration {
	return max(time.Hour, 10*interval)
}

// minAdminTokenLen keeps guessable admin tokens out.
const minAdminTokenLen = 20

// bootstrapTokenName is the name KEYGATE_ADMIN_TOKEN is stored under.
const bootstrapTokenName = "bootstrap"

// bootstrapAdminToken accepts KEYGATE_ADMIN_TOKEN, or, while no admin token
// exists, makes one and prints it once. Only its hash is stored.
//
// KEYGATE_ADMIN_TOKEN replaces the token it set on an earlier start, so that
// changing the variable (to rotate a leaked token, say) revokes the old one.
func (m *Main) bootstrapAdminToken(ctx context.Context) error {
	token := m.Config.AdminToken
	if token != "" {
		if len(token) < minAdminTokenLen {
			return fmt.Errorf("KEYGATE_ADMIN_TOKEN: must be at least %d characters", minAdminTokenLen)
		}
		err := m.Store.PutAdminToken(ctx, &keygate.AdminToken{Name: bootstrapTokenName, Hash: adminapi.HashAdminToken(token), Role: keygate.RoleAdmin})
		if err != nil {
			return fmt.Errorf("store admin token: %w", err)
		}
		return nil
	}
	n, err := m.Store.CountAdminTokens(ctx)
	if err != nil || n > 0 {
		return err
	}
	format, err := apikey.NewFormat("kg_admin")
	if err != nil {
		return err
	}
	k, err := format.Generate()
	if err != nil {
		return err
	}
	token = k.Reveal()
	if err := m.Store.CreateAdminToken(ctx, &keygate.AdminToken{Name: "generated", Hash: adminapi.HashAdminToken(token), Role: keygate.RoleAdmin}); err != nil {
		return fmt.Errorf("store admin token: %w", err)
	}
	m.Config.AdminToken = token
	if !m.Config.Dev { // the dev banner prints it with everything else
		fmt.Fprintf(m.Out, "Generated admin token (shown once, only its hash is stored):\n  %s\n", token)
	}
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// openLimiter sets up where usage plan limits are counted, after
// --rate-limit-policy, and reports whether to fail open. With --redis-url,
// HMAC signatures already seen are remembered in Redis too, so that a
// signature accepted by one node is a replay on every node.
func (m *Main) openLimiter(ctx context.Context) (failOpen bool, err error) {
	switch m.Config.RateLimitOnFailure {
	case "open", "": // Kong's default: an outage of the limiter is not an outage of the API
		failOpen = true
	case "closed":
	default:
		return false, fmt.Errorf("--rate-limit-on-failure: %q is not open or closed", m.Config.RateLimitOnFailure)
	}
	policy := m.Config.RateLimitPolicy
	if policy == "" {
		policy = "local"
		if m.Config.RedisURL != "" {
			policy = "redis"
		}
	}
	if policy != "local" && policy != "redis" {
		return false, fmt.Errorf("--rate-limit-policy: %q is not local or redis", policy)
	}
	if policy == "redis" && m.Config.RedisURL == "" {
		return false, errors.New("--rate-limit-policy redis needs --redis-url")
	}
	m.Limiter = inmem.New(m.Now)
	if m.Config.RedisURL == "" {
		return failOpen, nil
	}
	client, err := m.openRedis(ctx)
	if err != nil {
		return false, err
	}
	m.redis = client
	if policy == "redis" {
		m.Limiter = redis.New(client, m.Config.RedisPrefix)
	}
	m.Replay = redis.NewReplayGuard(client, m.Config.RedisPrefix, 0, m.Now)
	return failOpen, nil
}

// openRedis connects to --redis-url. An unreachable Redis is not fatal: it
// may come up after keygate, and until it does, requests on plans fail open
// or closed as configured and signed requests fail (503).
func (m *Main) openRedis(ctx context.Context) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(m.Config.RedisURL)
	if err != nil {
		return nil, errors.New("--redis-url: not a redis:// or rediss:// URL") // the URL may hold a password: not echoed
	}
	timeout := m.Config.RedisTimeout
	if timeout <= 0 {
		timeout = 250 * time.Millisecond
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.ContextTimeoutEnabled = true
	// A request waits for the answer: one attempt, no retries with backoff.
	opts.MaxRetries = -1
	client := goredis.NewClient(opts)
	m.cleanup = append(m.cleanup, func() { client.Close() })
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		m.Logger.Warn("Redis unreachable; usage plan limits fail "+m.Config.RateLimitOnFailure+" and signed requests fail until it answers", "error", err)
	}
	return client, nil
}

// loadCertPool reads the PEM certificates in file; no file: nil, the
// system's roots.
func loadCertPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// acceptImportedKeys has the verifier try values that are not in keygate's
// key format as imported keys when the store holds any (keys imported
// later turn that on through their change).
func acceptImportedKeys(ctx context.Context, store keygate.KeyStore, v *keyauth.Verifier) error {
	yes := true
	keys, _, err := store.ListKeys(ctx, keygate.KeyFilter{Imported: &yes}, keygate.Page{Limit: 1})
	if err != nil {
		return fmt.Errorf("looking for imported keys: %w", err)
	}
	if len(keys) > 0 {
		v.AcceptImported()
	}
	return nil
}
