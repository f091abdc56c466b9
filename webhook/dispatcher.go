package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/keygate/keygate"
)

var _ keygate.Publisher = (*Dispatcher)(nil)

// DefaultBackoff is the wait before each retry: the first retry comes 30
// seconds after the first attempt, the seventh a day after the sixth. Each
// wait varies by up to a fifth either way, so that deliveries that failed
// together (a receiver down) do not all come back at once.
var DefaultBackoff = []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// Defaults of Options.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultConcurrency  = 8
	DefaultPollInterval = 2 * time.Second
	DefaultRetention    = 30 * 24 * time.Hour
)

// pruneEvery is how often Run prunes old deliveries.
const pruneEvery = time.Hour

// Options configures a Dispatcher. Open is required.
type Options struct {
	// Open opens a webhook's sealed secret: the keyring's Open.
	Open func(*keygate.Sealed) ([]byte, error)
	// Logger gets one line per failed attempt, never a secret or a URL;
	// nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock of signatures and retry times; nil: time.Now.
	Now func() time.Time
	// Attempted, when set, learns the result of each attempt: delivered,
	// failed (to be retried) or dead (failed for good).
	Attempted func(result string)
	// Timeout bounds one attempt, connecting to reading the answer's
	// headers (default DefaultTimeout). A delivery is leased to this node
	// for twice that and half a minute more.
	Timeout time.Duration
	// Concurrency is how many deliveries are sent at once (default
	// DefaultConcurrency); a slow receiver holds up only its own.
	Concurrency int
	// PollInterval is how often Run looks for due deliveries (retries, and
	// events other nodes queued); events published through this Dispatcher
	// wake it at once. Default DefaultPollInterval.
	PollInterval time.Duration
	// Ticks, when set, replaces the poll ticker (tests).
	Ticks <-chan time.Time
	// Backoff is the wait before retry i+1 (default DefaultBackoff); past
	// its end, its last wait repeats.
	Backoff []time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is failed
	// for good (default len(Backoff)+1).
	MaxAttempts int
	// Retention is how long deliveries are kept, whatever their outcome
	// (default DefaultRetention); negative: forever.
	Retention time.Duration
	// RefusePrivateNetworks refuses to connect to loopback, private,
	// link-local and other non-public addresses, checked on the address
	// actually dialled (after DNS), for deployments where whoever registers
	// a webhook must not reach the internal network through keygate.
	RefusePrivateNetworks bool
	// HTTPClient, when set, sends the deliveries instead of a client made
	// from the options above; its redirect policy is replaced (redirects
	// are never followed).
	HTTPClient *http.Client
}

// Dispatcher delivers events to webhooks. Publish queues an event in the
// store; Run (or RunOnce) sends what is due. Several dispatchers, on one node
// or many, may share a store: the store leases each delivery to one of them.
// Delivery is at least once: a node that dies after sending but before
// recording the outcome leaves the delivery to be sent again when its lease
// runs out, so receivers deduplicate by Keygate-Event-Id.
type Dispatcher struct {
	store       keygate.WebhookStore
	open        func(*keygate.Sealed) ([]byte, error)
	log         *slog.Logger
	now         func() time.Time
	client      *http.Client
	timeout     time.Duration
	lease       time.Duration
	concurrency int
	poll        time.Duration
	ticks       <-chan time.Time
	backoff     []time.Duration
	maxAttempts int
	attempted   func(result string)
	retention   time.Duration

	wake chan struct{}
	// mu orders Run's start before Close's wait, as sync.WaitGroup requires.
	mu        sync.Mutex
	closed    bool
	quit      chan struct{}
	running   sync.WaitGroup
	lastPrune time.Time // Run's goroutine only
}

// New returns a Dispatcher of the deliveries in store.
func New(store keygate.WebhookStore, opts Options) (*Dispatcher, error) {
	switch {
	case store == nil:
		return nil, errors.New("webhook: no store")
	case opts.Open == nil:
		return nil, errors.New("webhook: Options.Open is required (the keyring's Open)")
	case opts.Timeout < 0, opts.Concurrency < 0, opts.PollInterval < 0, opts.MaxAttempts < 0:
		return nil, errors.New("webhook: Timeout, Concurrency, PollInterval and MaxAttempts must not be negative")
	}
	d := &Dispatcher{
		store: store, open: opts.Open, log: opts.Logger, now: opts.Now,
		attempted: opts.Attempted, timeout: opts.Timeout, concurrency: opts.Concurrency, poll: opts.PollInterval, ticks: opts.Ticks,
		backoff: opts.Backoff, maxAttempts: opts.MaxAttempts, retention: opts.Retention,
		wake: make(chan struct{}, 1), quit: make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout == 0 {
		d.timeout = DefaultTimeout
	}
	if d.concurrency == 0 {
		d.concurrency = DefaultConcurrency
	}
	if d.poll == 0 {
		d.poll = DefaultPollInterval
	}
	if len(d.backoff) == 0 {
		d.backoff = DefaultBackoff
	}
	for _, b := range d.backoff {
		if b <= 0 {
			return nil, errors.New("webhook: every Backoff wait must be positive")
		}
	}
	if d.maxAttempts == 0 {
		d.maxAttempts = len(d.backoff) + 1
	}
	if d.retention == 0 {
		d.retention = DefaultRetention
	}
	d.lease = 2*d.timeout + 30*time.Second
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		c.CheckRedirect = noRedirects
		d.client = &c
	} else {
		d.client = newHTTPClient(d.timeout, opts.RefusePrivateNetworks)
	}
	return d, nil
}

// Publish queues e for every webhook subscribed to it and wakes Run. It
// waits for one store write, never for a delivery.
func (d *Dispatcher) Publish(ctx context.Context, e keygate.Event) error {
	n, err := d.store.EnqueueEvent(ctx, &e)
	if err != nil {
		return err
	}
	if n > 0 {
		d.Wake()
	}
	return nil
}

// Wake makes Run look for due deliveries now rather than at its next poll:
// after a test ping is queued, say. It never blocks; a nil Dispatcher
// ignores it.
func (d *Dispatcher) Wake() {
	if d == nil {
		return
	}
	select {
	case d.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Run sends due deliveries until ctx ends or Close is called, then waits for
// the attempts in progress (each bounded by the timeout) and returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.running.Add(1)
	d.mu.Unlock()
	defer d.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.quit:
			cancel()
		case <-ctx.Done():
		}
	}()

	ticks := d.ticks
	if ticks == nil {
		t := time.NewTicker(d.poll)
		defer t.Stop()
		ticks = t.C
	}
	slots := make(chan struct{}, d.concurrency)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		d.fill(ctx, slots, &inflight)
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-ticks:
			d.prune(ctx)
		}
	}
}

// fill claims as many due deliveries as there are free slots and starts
// sending them, until nothing more is due or every slot is busy. It never
// claims what it cannot start at once: a claimed delivery waiting here
// would only use up its lease.
func (d *Dispatcher) fill(ctx context.Context, slots chan struct{}, inflight *sync.WaitGroup) {
	for ctx.Err() == nil {
		free := cap(slots) - len(slots) // only this goroutine fills slots, so free only grows meanwhile
		if free == 0 {
			return // a send that ends wakes the loop
		}
		claimed, err := d.store.ClaimDeliveries(ctx, d.now(), free, d.lease)
		if err != nil {
			if ctx.Err() == nil {
				d.log.LogAttrs(ctx, slog.LevelError, "webhook deliveries could not be claimed", slog.Any("err", err))
			}
			return
		}
		for _, c := range claimed {
			slots <- struct{}{}
			inflight.Go(func() {
				defer func() {
					<-slots
					// A slot is free, and the webhook may have more due that
					// its limit held back (see keygate.MaxLeasedPerWebhook).
					d.Wake()
				}()
				d.deliver(c)
			})
		}
		if len(claimed) < free {
			return
		}
	}
}

// RunOnce sends every delivery due now, Concurrency at a time, and returns
// once each attempt is recorded, with how many it attempted. Tests and
// one-shot tools call it instead of Run.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		claimed, err := d.store.ClaimDeliveries(ctx, d.now(), d.concurrency, d.lease)
		if err != nil {
			return total, err
		}
		var wg sync.WaitGroup
		for _, c := range claimed {
			wg.Go(func() { d.deliver(c) })
		}
		wg.Wait()
		total += len(claimed)
		if len(claimed) < d.concurrency {
			return total, nil
		}
	}
}

// Close stops Run, waits for the attempts in progress and closes idle
// connections. It does not close the store.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.quit)
	}
	d.mu.Unlock()
	d.running.Wait()
	d.client.CloseIdleConnections()
	return nil
}

// prune deletes deliveries past the retention, at most once per pruneEvery.
func (d *Dispatcher) prune(ctx context.Context) {
	now := d.now()
	if d.retention < 0 || now.Sub(d.lastPrune) < pruneEvery {
		return
	}
	d.lastPrune = now
	n, err := d.store.PruneWebhookDeliveries(ctx, now.Add(-d.retention))
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.LogAttrs(ctx, slog.LevelError, "old webhook deliveries could not be pruned", slog.Any("err", err))
	case n > 0:
		d.log.LogAttrs(ctx, slog.LevelInfo, "old webhook deliveries pruned", slog.Int("deliveries", n))
	}
}

// recordTimeout bounds the store write of an attempt's outcome.
const recordTimeout = 10 * time.Second

// deliver makes one attempt at c and records its outcome. It does not
// depend on Run's context: a stopping dispatcher finishes what it started
// (within the timeout) rather than leave it to a lease to run out.
func (d *Dispatcher) deliver(c *keygate.ClaimedDelivery) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	status, msg := d.post(ctx, c)
	cancel()
	a := keygate.WebhookAttempt{Lease: c.Lease, StatusCode: status, Error: msg, Delivered: msg == ""}
	if !a.Delivered && c.Attempts < d.maxAttempts {
		retry := d.now().Add(d.wait(c.Attempts))
		a.RetryAt = &retry
	}
	ctx, cancel = context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	err := d.store.RecordAttempt(ctx, c.ID, a)
	if d.attempted != nil {
		switch {
		case a.Delivered:
			d.attempted("delivered")
		case a.RetryAt != nil:
			d.attempted("failed")
		default:
			d.attempted("dead")
		}
	}
	attrs := []slog.Attr{slog.String("delivery_id", c.ID), slog.String("webhook_id", c.WebhookID),
		slog.String("event_id", c.EventID), slog.String("event_type", c.EventType), slog.Int("attempt", c.Attempts)}
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		// The webhook was deleted meanwhile: nothing is left to record.
	case err != nil:
		// The lease runs out and the delivery is tried again: at least once.
		d.log.LogAttrs(ctx, slog.LevelError, "webhook delivery outcome could not be recorded", append(attrs, slog.Any("err", err))...)
	case a.Delivered:
		d.log.LogAttrs(ctx, slog.LevelDebug, "webhook delivered", append(attrs, slog.Int("status", status))...)
	case a.RetryAt != nil:
		d.log.LogAttrs(ctx, slog.LevelWarn, "webhook delivery failed, will retry",
			append(attrs, slog.Int("status", status), slog.String("error", msg), slog.Time("retry_at", *a.RetryAt))...)
	default:
		d.log.LogAttrs(ctx, slog.LevelError, "webhook delivery failed for good",
			append(attrs, slog.Int("status", status), slog.String("error", msg))...)
	}
}

// wait returns the jittered wait after attempt n (1-based).
func (d *Dispatcher) wait(n int) time.Duration {
	base := d.backoff[min(max(n, 1), len(d.backoff))-1]
	return time.Duration(float64(base) * (0.8 + 0.4*rand.Float64()))
}

// maxAnswer is how much of an answer's body is read (and thrown away), so
// that the connection can be reused.
const maxAnswer = 64 << 10

// post sends c once and returns the answer's status (0: none) and, unless it
// was a 2xx, a short reason that holds neither the secret nor the URL.
func (d *Dispatcher) post(ctx context.Context, c *keygate.ClaimedDelivery) (int, string) {
	secret, err := d.open(c.Secret)
	if err != nil {
		d.log.LogAttrs(ctx, slog.LevelError, "webhook secret could not be opened",
			slog.String("webhook_id", c.WebhookID), slog.String("code", keygate.ErrorCode(err)), slog.String("err", keygate.ErrorMessage(err)))
		return 0, "the webhook's secret could not be opened (see the keygate log)"
	}
	sig := Sign(secret, d.now(), c.Payload)
	clear(secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return 0, "invalid webhook URL"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "keygate-webhooks/1")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set(EventIDHeader, c.EventID)
	req.Header.Set(EventTypeHeader, c.EventType)
	req.Header.Set(DeliveryIDHeader, c.ID)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, d.reason(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return s, ""
	case s >= 300 && s < 400:
		return s, fmt.Sprintf("HTTP %d: redirects are not followed", s)
	default:
		return s, fmt.Sprintf("HTTP %d %s", s, http.StatusText(s))
	}
}

// reason describes a failed request briefly. *url.Error holds the URL,
// whose query may carry a receiver's token: only its cause is kept.
func (d *Dispatcher) reason(err error) string {
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	switch {
	case timeout || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", d.timeout)
	case errors.Is(err, errPrivate):
		return errPrivate.Error()
	}
	return keygate.TruncateDeliveryError(err.Error())
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// newHTTPClient returns the client deliveries go out with: bounded in time,
// never through a proxy from the environment (HTTP_PROXY is meant for the
// operator's tools, and would see every event), never following redirects
// (the signature is for the URL registered).
func newHTTPClient(timeout time.Duration, refusePrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	if refusePrivate {
		dialer.Control = refusePrivateAddress
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			ExpectContinueTimeout:  time.Second,
			MaxIdleConns:           64,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		Timeout:       timeout,
		CheckRedirect: noRedirects,
	}
}

var errPrivate = errors.New("refused: the address is not public (private networks are refused)")

// refusePrivateAddress is a dialer's Control: it sees the address about to
// be connected to, after name resolution, so a name that resolves to an
// internal address is refused too.
func refusePrivateAddress(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errPrivate
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || sharedAddressSpace.Contains(a) {
		return errPrivate
	}
	return nil
}

// sharedAddressSpace is RFC 6598's carrier-grade NAT range, private in all
// but name.
var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")
