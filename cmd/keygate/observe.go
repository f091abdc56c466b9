package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/keygate/keygate/proxy"
	"github.com/spf13/pflag"
)

// observeConfig is the access log's and the metrics' settings.
type observeConfig struct {
	AccessLog       string
	AccessLogSample float64
	ConsumerLabels  bool
}

func (c *observeConfig) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.AccessLog, "access-log", "", "write a JSON line per gateway request to stdout, stderr or this file (empty: off); written asynchronously, lines are dropped (and counted) rather than slow requests down")
	fs.Float64Var(&c.AccessLogSample, "access-log-sample", 1, "share of requests the access log records, 0..1")
	fs.BoolVar(&c.ConsumerLabels, "metrics-consumer-labels", false, "also count requests by consumer (keygate_consumer_requests_total): one series per consumer and route")
}

func (c *observeConfig) validate() error {
	if c.AccessLogSample < 0 || c.AccessLogSample > 1 {
		return fmt.Errorf("--access-log-sample: %v is not between 0 and 1", c.AccessLogSample)
	}
	return nil
}

// observeProxy sets cfg's metrics and access log.
func (m *Main) observeProxy(cfg *proxy.Config) error {
	if err := m.Config.Observe.validate(); err != nil {
		return err
	}
	if m.Config.Observe.ConsumerLabels {
		m.Metrics.ConsumerLabels()
	}
	cfg.Requests = proxy.RequestMetricsFunc(func(route, service string) proxy.RouteMetrics { return m.Metrics.Route(route, service) })
	cfg.ConsumerLabels = m.Config.Observe.ConsumerLabels
	cfg.StoreErrors = func() { m.Metrics.StoreError("authenticate") }
	if m.Config.Observe.AccessLog == "" || m.Config.Observe.AccessLogSample == 0 {
		return nil
	}
	var w io.Writer
	switch m.Config.Observe.AccessLog {
	case "stdout", "-":
		w = os.Stdout
	case "stderr":
		w = os.Stderr
	default:
		f, err := os.OpenFile(m.Config.Observe.AccessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("--access-log: %w", err)
		}
		w = f
	}
	m.accessLog = newAsyncWriter(w, 4096, m.Metrics.AccessLogDropped)
	cfg.AccessLog = slog.New(slog.NewJSONHandler(m.accessLog, nil))
	cfg.AccessLogSample = m.Config.Observe.AccessLogSample
	return nil
}

// asyncWriter hands lines to a goroutine that writes them, so that a slow
// disk or pipe never holds a request up; when its queue is full, lines are
// dropped and counted.
type asyncWriter struct {
	w       io.Writer
	lines   chan []byte
	pool    sync.Pool
	dropped func(int)
	done    chan struct{}
	once    sync.Once
}

func newAsyncWriter(w io.Writer, queue int, dropped func(int)) *asyncWriter {
	a := &asyncWriter{w: w, lines: make(chan []byte, queue), dropped: dropped, done: make(chan struct{})}
	go a.run()
	return a
}

// Write queues a copy of p (slog reuses its buffer).
func (a *asyncWriter) Write(p []byte) (int, error) {
	b, _ := a.pool.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
	}
	*b = append((*b)[:0], p...)
	select {
	case a.lines <- *b:
	default:
		a.pool.Put(b)
		a.dropped(1)
	}
	return len(p), nil
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for line := range a.lines {
		a.w.Write(line)
		a.pool.Put(&line)
	}
}

// Close writes what is queued and stops; the file, if one, is closed.
func (a *asyncWriter) Close() error {
	a.once.Do(func() { close(a.lines) })
	<-a.done
	if f, ok := a.w.(*os.File); ok && f != os.Stdout && f != os.Stderr {
		return f.Close()
	}
	return nil
}

// readiness is /readyz's verdict, worked out at most once a second: the
// caches warm (see warm), the keyring loaded, the store and Redis answering.
type readiness struct {
	mu      sync.Mutex
	checked time.Time
	failed  map[string]string // the I/O checks that failed → why
}

const readyCacheFor = time.Second

// readyChecks runs the checks. Those that cost I/O (store, Redis) are
// run at most once every readyCacheFor, so that probes cost the store one
// cheap read a second however many there are; the others are read live.
func (m *Main) readyChecks(ctx context.Context) map[string]string {
	failed := map[string]string{}
	for check, why := range m.ioChecks(ctx) {
		failed[check] = why
	}
	if !m.Ready() {
		failed["cache"] = "warming"
	}
	if m.Keyring == nil || m.Keyring.Ring == nil {
		failed["keyring"] = "not loaded"
	}
	return failed
}

func (m *Main) ioChecks(ctx context.Context) map[string]string {
	r := &m.readiness
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && time.Since(r.checked) < readyCacheFor {
		return r.failed
	}
	failed := map[string]string{}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if m.Store != nil {
		if _, err := m.Store.LatestChange(ctx); err != nil {
			failed["store"] = "unreachable"
			m.Logger.Warn("readiness: store check failed", "error", err)
			m.Metrics.StoreError("ready")
		}
	}
	if m.redis != nil {
		if err := m.redis.Ping(ctx).Err(); err != nil {
			failed["redis"] = "unreachable"
			m.Logger.Warn("readiness: Redis check failed", "error", err)
			m.Metrics.StoreError("ready")
		}
	}
	r.checked, r.failed = time.Now(), failed
	return failed
}

// nodeReady is the proxy's --ready-path verdict: the same checks.
func (m *Main) nodeReady() bool { return len(m.readyChecks(context.Background())) == 0 }

// serveReady answers 200 when every check passes, 503 naming those that
// failed before.
func (m *Main) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	failed := m.readyChecks(r.Context())
	if len(failed) == 0 {
		io.WriteString(w, `{"status":"ready"}`+"\n")
		return
	}
	status := "unavailable"
	if len(failed) == 1 && failed["cache"] != "" {
		status = "starting"
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(struct {
		Status string            `json:"status"`
		Failed map[string]string `json:"failed"`
	}{status, failed})
}
