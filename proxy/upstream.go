package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

// target is one instance of a service: its connection pools and its
// health. It is kept across reloads while its URL and the service's
// connection settings stay the same (see newUpstream), so that a deploy
// that keeps some targets keeps their warm connections and health.
type target struct {
	url       *url.URL
	raw       string               // url as the service names it
	key       string               // url and connection settings: equal keys share a target
	client    *fasthttp.HostClient // replayable requests (forward)
	transport *http.Transport      // the others, and protocol switches
	health    health
}

func newTarget(s *keygate.Service, raw string, roots *x509.CertPool) (*target, error) {
	u, err := keygate.ParseUpstreamURL(raw)
	if err != nil {
		return nil, err
	}
	// Kong's read_timeout and write_timeout: the longest wait between two
	// successive reads or writes, so that a long stream (server-sent events)
	// lives on while it moves.
	dialer := &net.Dialer{Timeout: keygate.Duration(s.ConnectTimeout), KeepAlive: 30 * time.Second}
	readTimeout, writeTimeout := keygate.Duration(s.ReadTimeout), keygate.Duration(s.WriteTimeout)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleTimeoutConn{Conn: conn, read: readTimeout, write: writeTimeout}, nil
	}
	client := &fasthttp.HostClient{
		Addr:                hostPort(u), // dialed as it is: with the port
		IsTLS:               u.Scheme == "https",
		TLSConfig:           &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		Dial:                func(addr string) (net.Conn, error) { return dial(context.Background(), "tcp", addr) },
		MaxConns:            math.MaxInt32, // no cap, as http.Transport's default
		MaxIdleConnDuration: 90 * time.Second,
		// Room for an answer's headers (long cookies, security policies):
		// nginx allows 4–8 KiB by default, Kong 160 KiB.
		ReadBufferSize:           64 << 10,
		NoDefaultUserAgentHeader: true,
		// Errors name what failed, not the headers it failed on: those carry
		// credentials (an API key unless hidden, cookies) into the log.
		SecureErrorLogMessage: true,
		// Paths go out as the gateway wrote them. Header names of answers
		// are read canonical, as the request path compares them.
		DisablePathNormalizing: true,
		StreamResponseBody:     true,
		// One retry, only on a kept-alive connection the upstream had closed.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                retryOnStaleConnection,
	}
	transport := &http.Transport{
		// No Proxy: the gateway must not be rerouted by HTTP_PROXY in its environment.
		DialContext:     dial,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		// Keep-alive matters most for throughput: the default of 2 idle
		// connections per host makes most requests open a new one under load.
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   keygate.Duration(s.ConnectTimeout),
		ExpectContinueTimeout: time.Second,
		// Pass bodies through as the upstream encoded them.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	return &target{url: u, raw: raw, key: targetKey(s, raw), client: client, transport: transport}, nil
}

// targetKey names what a target's pools depend on.
func targetKey(s *keygate.Service, raw string) string {
	return fmt.Sprintf("%s %d %d %d", raw, s.ConnectTimeout, s.ReadTimeout, s.WriteTimeout)
}

func (t *target) close() {
	t.client.CloseIdleConnections()
	t.transport.CloseIdleConnections()
}

// hostPort is the address of target, with its scheme's port when the URL
// names none.
func hostPort(target *url.URL) string {
	port := target.Port()
	if port == "" {
		port = "80"
		if target.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(target.Hostname(), port)
}

// retryOnStaleConnection allows the one retry when a request went out on an
// idle connection the upstream had closed meanwhile. Only replayable
// requests use this client (see forward). A timeout is never retried.
func retryOnStaleConnection(_ *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	return false, errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed)
}

// idleTimeoutConn fails a read or a write that waits longer than its timeout.
type idleTimeoutConn struct {
	net.Conn
	read, write time.Duration
}

func (c *idleTimeoutConn) Read(b []byte) (int, error) {
	if c.read > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.read))
	}
	return c.Conn.Read(b)
}

func (c *idleTimeoutConn) Write(b []byte) (int, error) {
	if c.write > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(c.write))
	}
	return c.Conn.Write(b)
}

// Kong's messages for upstream failures.
const (
	msgBadGateway     = "An invalid response was received from the upstream server"
	msgGatewayTimeout = "The upstream server is timing out"
)

// callerBodyFailed answers for a request whose body the gateway could not
// read while sending it on: the caller's fault, not the upstream's. The
// rest of the connection cannot be read as requests any more.
func (p *Proxy) callerBodyFailed(x *exchange, err error) {
	status, msg := fasthttp.StatusBadRequest, "Malformed request body"
	var timeout interface{ Timeout() bool }
	if errors.As(err, &timeout) && timeout.Timeout() {
		status, msg = fasthttp.StatusRequestTimeout, "Request body not received in time"
	}
	p.cfg.Logger.Info("request body unreadable", "request_id", x.id, "status", status, "error", describeConnError(err))
	x.ctx.SetConnectionClose()
	p.writeError(x, status, msg)
}

// noTarget answers for a service none of whose targets can take the
// request: only when its target set has no weight at all, which the admin
// API refuses to store.
func (p *Proxy) noTarget(x *exchange) {
	p.cfg.Logger.Warn("service has no target to send to", "request_id", x.id, "service", x.route.upstream.service.Name)
	p.writeError(x, fasthttp.StatusServiceUnavailable, "failure to get a peer from the ring-balancer")
}

// upstreamFailed answers for an upstream that could not be reached or did
// not answer in time.
func (p *Proxy) upstreamFailed(x *exchange, err error) {
	status, msg := fasthttp.StatusBadGateway, msgBadGateway
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		status, msg = fasthttp.StatusGatewayTimeout, msgGatewayTimeout
	}
	p.cfg.Logger.Warn("upstream failed", "request_id", x.id, "status", status, "error", err)
	p.writeError(x, status, msg)
}
