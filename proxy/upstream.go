package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/keygate/keygate"
	"github.com/valyala/fasthttp"
)

// upstream forwards to one service. It owns the service's connection pools,
// so it is kept across reloads for as long as the service does not change.
type upstream struct {
	service   *keygate.Service
	target    *url.URL
	client    *fasthttp.HostClient // replayable requests (forward)
	transport *http.Transport      // the others, and protocol switches
}

func newUpstream(s *keygate.Service, roots *x509.CertPool, logger *slog.Logger) (*upstream, error) {
	target, err := keygate.ParseUpstreamURL(s.URL)
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
		Addr:                hostPort(target), // dialed as it is: with the port
		IsTLS:               target.Scheme == "https",
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
	return &upstream{service: s, target: target, client: client, transport: transport}, nil
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

func (u *upstream) close() {
	u.client.CloseIdleConnections()
	u.transport.CloseIdleConnections()
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
