package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/keygate/keygate/anomaly"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is everything serve can be told. Each field is a flag; each flag can
// also come from a KEYGATE_* environment variable or the YAML file named by
// --config, in that order of precedence after the command line.
type Config struct {
	ConfigFile       string
	DataDir          string
	Store            string
	StoreSchema      string
	RootKeyFile      string
	ProxyListen      string
	AdminListen      string
	KeyPrefix        string
	AcceptedPrefixes []string
	TrustedProxies   []string
	UpstreamCAFile   string
	LogLevel         string
	LogFormat        string
	ShutdownTimeout  time.Duration
	SelfRotatePath   string
	HealthPath       string
	ReadyPath        string
	LeakReportKeys   string
	KeyExpiryNotice  time.Duration
	ArchiveAfter     time.Duration
	Retention        time.Duration
	Dev              bool

	// Console is the admin console's sign-in and sessions (console.go).
	Console consoleConfig
	// Observe is the access log's and metrics' settings (observe.go).
	Observe observeConfig

	// Role is what this node runs: gateway, admin or both (see roleFlagHelp).
	Role string
	// JobLeaseTTL is how long the background jobs' lease outlives its last
	// renewal: within about this long after the node running them dies,
	// another takes them over.
	JobLeaseTTL time.Duration

	// Usage plans: where limits are counted, what to do when that store is
	// unreachable, and how often usage counts are written.
	RedisURL           string
	RedisPrefix        string
	RedisTimeout       time.Duration
	RateLimitPolicy    string
	RateLimitOnFailure string
	UsageFlushInterval time.Duration
	UsageRetention     time.Duration
	StaleCacheWindow   time.Duration
	// UnknownKeyReads is how many store reads per second a node makes for
	// key identifiers its filter of issued ones does not know (0: none).
	UnknownKeyReads int
	// RefusalDelay holds back the 401s of an address past 50 a second.
	RefusalDelay time.Duration
	// AnomalyDetection turns the anomaly detector on (gateway nodes);
	// Anomaly is its settings, zero fields taking the defaults.
	AnomalyDetection bool
	Anomaly          anomaly.Config
	// KeyCacheSize bounds the API keys each node keeps verified in memory
	// (0: the default).
	KeyCacheSize int
	// WarmWindow: on start, the API keys used this long back are loaded
	// into the cache before the node reports ready (0: none).
	WarmWindow time.Duration

	// ReconcileInterval is how often each node reads the store's change
	// log for changes it has not applied (0: never).
	ReconcileInterval time.Duration

	// OAuth2 is the authorization server's settings (--oauth2-*).
	OAuth2 oauth2Config

	// For end-to-end tests only (hidden flags, see docs/configuration.md):
	// ClockFile makes the node's clock that file's modification time, so a
	// test moves it with os.Chtimes; JobsInterval is how often the lifecycle
	// jobs run (0: every minute).
	ClockFile    string
	JobsInterval time.Duration

	// Secrets come from the environment only, never from flags (which other
	// users can read from the process list) or the config file.
	RootKey    string // KEYGATE_ROOT_KEY, base64; or --root-key-file
	Pepper     string // KEYGATE_PEPPER: only to import the pepper of a keygate before the keyring
	AdminToken string // KEYGATE_ADMIN_TOKEN; otherwise generated once and printed
}

const envPrefix = "KEYGATE_"

func (c *Config) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML file with settings (keys are the flag names with _ for -)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the SQLite database")
	fs.StringVar(&c.Store, "store", "", storeFlagHelp)
	fs.StringVar(&c.StoreSchema, "store-schema", "", "PostgreSQL schema of keygate's tables, created when missing (default: the first of the URL's search_path, usually public)")
	fs.StringVar(&c.RootKeyFile, "root-key-file", "", "file holding the root key (mode 0600; make one with: keygate root-key generate); or set KEYGATE_ROOT_KEY")
	fs.StringVar(&c.ProxyListen, "proxy-listen", "0.0.0.0:8000", "address of the gateway (proxy) listener")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:8001", "address of the admin API listener")
	fs.StringVar(&c.KeyPrefix, "key-prefix", "kg_live", "prefix of newly issued API keys (letters, digits, _)")
	fs.StringSliceVar(&c.AcceptedPrefixes, "accepted-key-prefixes", nil, "older key prefixes that stay valid (comma-separated)")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", nil, "CIDRs of load balancers whose X-Forwarded-For is believed")
	fs.StringVar(&c.UpstreamCAFile, "upstream-ca-file", "", "PEM file of the certificate authorities that https services' certificates are checked against (default: the system's)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGTERM waits for requests in flight")
	fs.StringVar(&c.SelfRotatePath, "self-rotate-path", "/.keygate/rotate", "gateway path where a caller rotates its own key (empty: off)")
	fs.StringVar(&c.HealthPath, "health-path", "/.keygate/health", "gateway path that answers 200 while the node serves, for load balancers' health checks (empty: off)")
	fs.StringVar(&c.ReadyPath, "ready-path", "/.keygate/ready", "gateway path that answers 200 once the node is ready (its key cache warmed, see --warm-window) and 503 before, for load balancers' readiness checks; the admin listener answers the same at /readyz (empty: off)")
	c.Observe.addFlags(fs)
	fs.StringVar(&c.LeakReportKeys, "leak-report-keys", "", "JSON file of the public keys signed leak reports are checked with (GitHub's secret scanning format)")
	fs.DurationVar(&c.KeyExpiryNotice, "key-expiry-notice", 7*24*time.Hour, "how long before a key or HMAC credential expires responses carry a Sunset header and an expiring event goes out")
	fs.DurationVar(&c.ArchiveAfter, "archive-after", 30*24*time.Hour, "archive keys and HMAC credentials this long after they expired or were revoked: destroy the secret (hash or data key), keep the record (0: never)")
	fs.DurationVar(&c.Retention, "retention", 365*24*time.Hour, "destroy archived keys and HMAC credentials this long after archiving (0: never)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis shared by every node for rate limits and quotas (redis://[:password@]host:port/db; put a password in the environment, not on the command line)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "keygate:", "prefix of every Redis key keygate writes, so that several installs can share one Redis")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 250*time.Millisecond, "how long a request waits for Redis before the limiter counts as unreachable")
	fs.StringVar(&c.RateLimitPolicy, "rate-limit-policy", "", "where usage plan limits are counted: local (this node's memory) or redis (shared by every node); default: redis when --redis-url is set, else local")
	fs.StringVar(&c.RateLimitOnFailure, "rate-limit-on-failure", "open", "when the limiter cannot decide (Redis unreachable): open serves requests unlimited, closed refuses them with 503; never 401, always logged and counted in /metrics")
	fs.DurationVar(&c.UsageFlushInterval, "usage-flush-interval", 10*time.Second, "how often usage counts (per credential, route and minute) are written to the store (0: no usage metering)")
	fs.DurationVar(&c.StaleCacheWindow, "stale-cache-window", 10*time.Minute, "while the store cannot be read, keys and HMAC credentials the gateway has cached keep working this long past their 5-minute cache lifetime; others get 503 (0: none)")
	fs.IntVar(&c.KeyCacheSize, "key-cache-size", 1_000_000, "most API keys a node keeps verified in memory (about 450 bytes each); when full, those least recently used go first. Identifiers with no key are cached apart, a tenth as many, so that made-up ones cannot push keys out")
	fs.DurationVar(&c.WarmWindow, "warm-window", time.Hour, "on start, load the API keys that have usage recorded in this window into the key cache (in batches, up to its bound) before the node reports ready at --ready-path and /readyz; the listeners serve meanwhile (0: ready at once)")
	fs.DurationVar(&c.UsageRetention, "usage-retention", 400*24*time.Hour, "delete usage counts older than this (0: keep them forever)")
	fs.StringVar(&c.Role, "role", roleBoth, roleFlagHelp)
	c.Console.addFlags(fs)
	fs.DurationVar(&c.JobLeaseTTL, "job-lease-ttl", 30*time.Second, "the background jobs run on one admin node at a time, under a lease in the store renewed every third of this; when that node dies, another takes them over within about this long")
	fs.DurationVar(&c.RefusalDelay, "refusal-delay", 250*time.Millisecond, "how long the gateway holds back each 401 to a client address that has had more than 50 in the last second: slows floods of made-up credentials, never a request with a good one (0: off; at most 10s)")
	fs.IntVar(&c.UnknownKeyReads, "unknown-key-reads", 100, "store reads per second this node makes for API keys whose identifier its filter of issued identifiers does not know: keys created on another node moments ago, before the change reaches this one (shared between client addresses, a tenth each at most; past it such a key is refused as unknown; 0: none)")
	fs.DurationVar(&c.ReconcileInterval, "reconcile-interval", time.Second, "how often this node reads the store's change log and applies the changes other nodes made (a revoke, say) that it has not applied yet: the bound on propagation without Redis, and when a Redis message is lost (0: off)")
	fs.BoolVar(&c.Dev, "dev", false, "throwaway data dir, demo upstream, demo key, printed admin token")
	fs.StringVar(&c.ClockFile, "clock-file", "", "for tests only: the node's clock is this file's modification time (a test moves it with touch or os.Chtimes)")
	fs.DurationVar(&c.JobsInterval, "jobs-interval", time.Minute, "for tests only: how often the lifecycle jobs run")
	c.addAnomalyFlags(fs)
	c.OAuth2.addFlags(fs)
	fs.MarkHidden("clock-file")
	fs.MarkHidden("jobs-interval")
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += fmt.Sprintf(" (env %s)", envName(f.Name))
	})
}

func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// load fills every flag the command line left unset from the environment,
// then from the config file, and reads the secrets from the environment.
func (c *Config) load(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && !f.Changed && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %v", envName(f.Name), serr)
			}
		}
	})
	if err != nil {
		return err
	}
	if c.ConfigFile != "" {
		if err := c.loadFile(fs); err != nil {
			return err
		}
	}
	c.RootKey = os.Getenv(envPrefix + "ROOT_KEY")
	c.Pepper = os.Getenv(envPrefix + "PEPPER")
	c.AdminToken = os.Getenv(envPrefix + "ADMIN_TOKEN")
	c.Console.load()
	return nil
}

func (c *Config) loadFile(fs *pflag.FlagSet) error {
	data, err := os.ReadFile(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(data, &settings); err != nil {
		return fmt.Errorf("config file %s: %w", c.ConfigFile, err)
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		name := strings.ReplaceAll(key, "_", "-")
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("config file %s: unknown setting %q", c.ConfigFile, key)
		}
		if f.Changed {
			continue // the command line and the environment win
		}
		if err := fs.Set(name, yamlValue(settings[key])); err != nil {
			return fmt.Errorf("config file %s: %s: %v", c.ConfigFile, key, err)
		}
	}
	return nil
}

// yamlValue renders a YAML value the way the flag parser reads it.
func yamlValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// The roles of a node (--role).
const (
	roleGateway = "gateway"
	roleAdmin   = "admin"
	roleBoth    = "both"
)

const roleFlagHelp = "what this node runs: gateway (the proxy listener only), admin (the admin API and UI, the background jobs and webhook deliveries; no proxy listener) or both"

// validateRole checks --role (and --job-lease-ttl, which only an admin
// node uses) before anything starts.
func (c *Config) validateRole() error {
	switch c.Role {
	case "":
		c.Role = roleBoth
	case roleGateway, roleAdmin, roleBoth:
	default:
		return fmt.Errorf("--role: %q is not gateway, admin or both", c.Role)
	}
	if c.Dev && c.Role != roleBoth {
		return fmt.Errorf("--role: --dev runs a whole keygate on one node: use --role both (or leave it out)")
	}
	if c.JobLeaseTTL < 0 || c.JobLeaseTTL > 0 && c.JobLeaseTTL < 3*time.Millisecond {
		return fmt.Errorf("--job-lease-ttl: must be at least 3ms (0: the default, 30s)")
	}
	return nil
}

// validateCaches checks the cache sizes before anything starts.
func (c *Config) validateCaches() error {
	if c.KeyCacheSize < 0 {
		return fmt.Errorf("--key-cache-size: must not be negative (0: the default, 1000000)")
	}
	return nil
}

// gateway and admin say whether this node runs the proxy listener, and the
// admin API with the background work.
func (c *Config) gateway() bool { return c.Role != roleAdmin }
func (c *Config) admin() bool   { return c.Role != roleGateway }
