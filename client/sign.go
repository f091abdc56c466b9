package client

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keygate/keygate/httpsig"
)

// Scheme is how a Signer signs requests.
type Scheme uint8

const (
	// KongScheme signs as Kong's hmac-auth expects:
	// Authorization: hmac username="…", algorithm="…", headers="…", signature="…".
	KongScheme Scheme = iota + 1
	// RFC9421 signs with HTTP Message Signatures (Signature-Input and
	// Signature), hmac-sha256, keyid the credential's username.
	RFC9421
)

// Signer is an http.RoundTripper that signs each request with an HMAC
// credential before handing it to the transport it wraps:
//
//	hc := &http.Client{Transport: client.NewSigner(username, secret, client.KongScheme)}
//
// It does not modify the caller's request: it signs a clone.
//
// A Signer signs for one set of hosts: those given WithHosts or, without
// that option, the host of the first request it signs. A request to any
// other host — a redirect to another site, say — is refused
// (ErrHostNotAllowed) rather than sent with a signature someone else could
// replay to the gateway.
type Signer struct {
	username    string
	secret      []byte
	scheme      Scheme
	base        http.RoundTripper
	now         func() time.Time
	algorithm   httpsig.Algorithm
	headers     []string
	digest      bool
	maxBody     int64
	label       string
	expiresIn   time.Duration
	digestAlgs  []string
	proxyHeader bool
	noNonce     bool

	mu    sync.Mutex
	hosts map[string]bool // nil until WithHosts or the first request
}

// ErrHostNotAllowed is returned for a request to a host the Signer does
// not sign for.
var ErrHostNotAllowed = errors.New("keygate signer: host not among the hosts the signer signs for")

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithTransport sets the transport the signer wraps (default
// http.DefaultTransport).
func WithTransport(rt http.RoundTripper) SignerOption { return func(s *Signer) { s.base = rt } }

// WithClock sets the clock for Date and created (default time.Now).
func WithClock(now func() time.Time) SignerOption { return func(s *Signer) { s.now = now } }

// WithAlgorithm sets the Kong scheme's algorithm: hmac-sha1, hmac-sha256
// (the default), hmac-sha384 or hmac-sha512. RFC 9421 signatures are
// always hmac-sha256.
func WithAlgorithm(name string) SignerOption {
	return func(s *Signer) {
		alg, ok := httpsig.ParseAlgorithm(name)
		if !ok {
			alg = 0 // refused on the first request
		}
		s.algorithm = alg
	}
}

// WithHeaders sets what is signed. With KongScheme, the signed headers in
// order, replacing the default "date host @request-target" ("x-date host
// @request-target" when the request has X-Date and no Date); the
// pseudo-headers request-line and @request-target may be listed
// (request-line includes the protocol version, which the transport picks:
// the signer assumes HTTP/1.1, so prefer @request-target), and host should
// be. With RFC9421, header fields covered after @method, @authority, @path
// and @query (always signed, though the gateway asks for @query only when
// the request has a query). Names are lower-cased. The signer then adds, with KongScheme,
// the date header when neither date nor x-date is listed (the gateway only
// trusts a signed one) and x-nonce (see WithoutNonce), and digest or
// content-digest (WithBodyDigest).
func WithHeaders(names ...string) SignerOption {
	return func(s *Signer) {
		s.headers = nil
		for _, n := range names {
			s.headers = append(s.headers, strings.ToLower(n))
		}
	}
}

// WithBodyDigest signs a digest of the body: Digest: SHA-256=… (Kong's
// validate_request_body) with KongScheme, Content-Digest (RFC 9530) with
// RFC9421. Bodies are read into memory, up to maxBody bytes (0: 8 MiB); a
// larger one fails the request.
func WithBodyDigest(maxBody int64) SignerOption {
	return func(s *Signer) {
		s.digest = true
		if maxBody > 0 {
			s.maxBody = maxBody
		}
	}
}

// WithContentDigestAlgorithms sets the RFC 9530 algorithms of
// Content-Digest: httpsig.DigestSHA256 (the default) and/or
// httpsig.DigestSHA512.
func WithContentDigestAlgorithms(algs ...string) SignerOption {
	return func(s *Signer) { s.digestAlgs = algs }
}

// WithLabel sets the RFC 9421 signature label (default "sig1").
func WithLabel(label string) SignerOption { return func(s *Signer) { s.label = label } }

// WithExpires adds an RFC 9421 expires parameter d after created.
func WithExpires(d time.Duration) SignerOption { return func(s *Signer) { s.expiresIn = d } }

// WithProxyAuthorization sends Kong credentials in Proxy-Authorization
// instead of Authorization, leaving Authorization to the upstream.
func WithProxyAuthorization() SignerOption { return func(s *Signer) { s.proxyHeader = true } }

// WithoutNonce leaves out the random nonce the signer adds to every
// signature (an X-Nonce header it signs with KongScheme, the nonce
// parameter with RFC9421). Without one, two identical requests within a
// second of each other have the same signature (Date and created count
// seconds), and a gateway with replay protection refuses the second.
func WithoutNonce() SignerOption { return func(s *Signer) { s.noNonce = true } }

// WithHosts sets the hosts the signer signs for, as host or host:port
// (compared without case, and without the scheme's default port). Without
// it, the signer signs for the host of the first request it signs only.
// A request's URL host and, when set, its Host must both be among them.
func WithHosts(hosts ...string) SignerOption {
	return func(s *Signer) {
		s.hosts = map[string]bool{}
		for _, h := range hosts {
			h = strings.ToLower(h)
			h = strings.TrimSuffix(strings.TrimSuffix(h, ":443"), ":80")
			s.hosts[h] = true
		}
	}
}

// NonceHeader is the header that carries the Kong scheme's nonce.
const NonceHeader = "X-Nonce"

// NewSigner returns a signer for the credential username/secret.
func NewSigner(username string, secret []byte, scheme Scheme, opts ...SignerOption) *Signer {
	s := &Signer{username: username, secret: bytes.Clone(secret), scheme: scheme, base: http.DefaultTransport,
		now: time.Now, algorithm: httpsig.HMACSHA256, maxBody: 8 << 20, label: "sig1"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// RoundTrip signs a clone of req and sends it with the wrapped transport.
func (s *Signer) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	if err := s.Sign(out); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper always closes the body
		}
		return nil, err
	}
	return s.base.RoundTrip(out)
}

// Sign signs req in place: it adds Date (if missing) and the credentials
// for KongScheme, Signature-Input and Signature for RFC9421, and with
// WithBodyDigest reads the body, adds its digest and replaces it with a
// re-readable copy (GetBody set). It replaces earlier credentials of its
// scheme. It refuses a request to a host it does not sign for
// (ErrHostNotAllowed).
func (s *Signer) Sign(req *http.Request) error {
	switch {
	case s.scheme != KongScheme && s.scheme != RFC9421:
		return errors.New("keygate signer: unknown scheme")
	case s.scheme == KongScheme && s.algorithm == 0:
		return errors.New("keygate signer: unknown algorithm")
	}
	if err := s.checkHost(req); err != nil {
		return err
	}
	if s.digest {
		body, err := s.readBody(req)
		if err != nil {
			return err
		}
		if s.scheme == KongScheme {
			req.Header.Set("Digest", httpsig.DigestHeader(body))
		} else {
			cd, err := httpsig.ContentDigestHeader(body, s.digestAlgs...)
			if err != nil {
				return err
			}
			req.Header.Set("Content-Digest", cd)
		}
	}
	if s.scheme == KongScheme {
		return s.signKong(req)
	}
	return s.signRFC9421(req)
}

func (s *Signer) signKong(req *http.Request) error {
	if req.Header.Get("Date") == "" && req.Header.Get("X-Date") == "" {
		req.Header.Set("Date", s.now().UTC().Format(http.TimeFormat))
	}
	date := "date"
	if req.Header.Get("Date") == "" {
		date = "x-date"
	}
	names := s.headers
	if names == nil {
		names = []string{date, "host", "@request-target"}
	} else if listed := strings.Join(names, " "); !httpsig.KongSigns(listed, "Date") && !httpsig.KongSigns(listed, "X-Date") {
		names = append(names[:len(names):len(names)], date)
	}
	if s.digest && !contains(names, "digest") {
		names = append(names[:len(names):len(names)], "digest")
	}
	if !s.noNonce {
		req.Header.Set(NonceHeader, rand.Text())
		if !contains(names, "x-nonce") {
			names = append(names[:len(names):len(names)], "x-nonce")
		}
	}
	headers := strings.Join(names, " ")
	mac, err := httpsig.KongMAC(nil, httpsig.HTTPRequest(req), s.algorithm, s.secret, headers)
	if err != nil {
		return fmt.Errorf("keygate signer: %w", err)
	}
	v := httpsig.KongParams{Username: s.username, Algorithm: s.algorithm.String(), Headers: headers,
		Signature: base64.StdEncoding.EncodeToString(mac)}.String()
	if s.proxyHeader {
		req.Header.Set("Proxy-Authorization", v)
	} else {
		req.Header.Set("Authorization", v)
	}
	return nil
}

func (s *Signer) signRFC9421(req *http.Request) error {
	components := []string{"@method", "@authority", "@path", "@query"}
	for _, h := range s.headers {
		if !contains(components, h) {
			components = append(components, h)
		}
	}
	if s.digest && !contains(components, "content-digest") {
		components = append(components, "content-digest")
	}
	p := httpsig.SignatureParams{Created: s.now().Unix(), KeyID: s.username, Alg: httpsig.AlgHMACSHA256}
	if !s.noNonce {
		p.Nonce = rand.Text()
	}
	if s.expiresIn > 0 {
		p.Expires = p.Created + int64((s.expiresIn+time.Second-1)/time.Second)
	}
	in, err := httpsig.NewSignatureInput(s.label, components, p)
	if err != nil {
		return fmt.Errorf("keygate signer: %w", err)
	}
	mac, err := in.MAC(httpsig.HTTPRequest(req), s.secret)
	if err != nil {
		return fmt.Errorf("keygate signer: %w", err)
	}
	input, err := in.Header()
	if err != nil {
		return fmt.Errorf("keygate signer: %w", err)
	}
	sig, err := httpsig.SignatureHeader(s.label, mac)
	if err != nil {
		return fmt.Errorf("keygate signer: %w", err)
	}
	req.Header.Set("Signature-Input", input)
	req.Header.Set("Signature", sig)
	return nil
}

// checkHost refuses a request to a host the signer does not sign for; the
// first request pins the hosts when WithHosts did not set them.
func (s *Signer) checkHost(req *http.Request) error {
	if req.URL == nil || req.URL.Host == "" {
		return errors.New("keygate signer: request without a host")
	}
	scheme := strings.ToLower(req.URL.Scheme)
	dest := hostKey(scheme, req.URL.Host)
	named := dest // what is signed as host and @authority
	if req.Host != "" {
		named = hostKey(scheme, req.Host)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hosts == nil {
		s.hosts = map[string]bool{dest: true, named: true}
	}
	if !s.hosts[dest] {
		return fmt.Errorf("%w: %s", ErrHostNotAllowed, dest)
	}
	if !s.hosts[named] {
		return fmt.Errorf("%w: %s", ErrHostNotAllowed, named)
	}
	return nil
}

// hostKey is host lower-cased, without the default port of scheme.
func hostKey(scheme, host string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "https":
		return strings.TrimSuffix(host, ":443")
	case "http":
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

// readBody reads req's body, bounded, and replaces it with one that can be
// read again (GetBody too, for redirects and retries). An empty body
// becomes http.NoBody, so that the transport sends it with Content-Length:
// 0 (POST, PUT, PATCH) or none, as the signature says, rather than chunked.
func (s *Signer) readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, s.maxBody+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("keygate signer: reading body: %w", err)
	}
	if int64(len(body)) > s.maxBody {
		return nil, fmt.Errorf("keygate signer: body larger than %d bytes", s.maxBody)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return nil, nil
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	return body, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
