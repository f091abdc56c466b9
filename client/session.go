package client

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sessioncrypto"
)

// SessionOptions say how to start a payload encryption session with the
// gateway (not the admin API): see docs/payload-encryption.md.
type SessionOptions struct {
	// Gateway is the gateway's base URL, such as http://127.0.0.1:8000.
	Gateway string
	// Path and Method are those of a request on the route (Method: POST
	// when empty); the session serves every encrypting route of its service.
	Path, Method string
	// Authorize adds the route's credential to a request (an API key
	// header, an HMAC signature): called for the handshake, the logout and
	// every request, after its body is sealed.
	Authorize func(*http.Request) error
	// PrivateKey is the client's *ecdh.PrivateKey (X25519) or
	// *rsa.PrivateKey the session key is wrapped to; nil: a fresh X25519
	// key, used for this handshake only.
	PrivateKey any
	// StaticKey is the route's static key (from the admin), needed only
	// when the route's payload_encryption is static.
	StaticKey []byte
	// Lifetime of the session; 0: the gateway's default (an hour).
	Lifetime time.Duration
	// JSONRPC seals the params of JSON-RPC 2.0 requests and opens the
	// results, instead of sealing whole bodies.
	JSONRPC bool
	// HTTPClient sends the requests; nil: http.DefaultClient.
	HTTPClient *http.Client
}

// Session is a payload encryption session: its RoundTrip seals each request
// body for the gateway and opens the answer, so that code using
// Session.Client() sends and reads plain bodies. Safe for concurrent use.
type Session struct {
	ID        string
	Mode      string
	ExpiresAt time.Time
	opts      SessionOptions
	key       *sessioncrypto.Key
	seq       atomic.Uint64
}

// StartSession performs the handshake: it sends the client's public key,
// and opens the session key the gateway wrapped to it.
func StartSession(ctx context.Context, opts SessionOptions) (*Session, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	opts.Gateway = strings.TrimSuffix(opts.Gateway, "/")
	priv := opts.PrivateKey
	if priv == nil {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = k
	}
	var pub any
	switch k := priv.(type) {
	case *ecdh.PrivateKey:
		pub = k.PublicKey()
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	default:
		return nil, fmt.Errorf("keygate session: a %T is neither an X25519 nor an RSA private key", priv)
	}
	typ, b64, err := sessioncrypto.EncodePublicKey(pub)
	if err != nil {
		return nil, err
	}
	in, _ := json.Marshal(sessioncrypto.HandshakeRequest{Path: opts.Path, Method: opts.Method, KeyType: typ, PublicKey: b64,
		Lifetime: int(opts.Lifetime / time.Second)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, opts.Gateway+sessioncrypto.DefaultSessionPath, bytes.NewReader(in))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out sessioncrypto.HandshakeResponse
	if err := sessionCall(opts, req, http.StatusCreated, &out); err != nil {
		return nil, err
	}
	s := &Session{ID: out.Session, Mode: out.Mode, ExpiresAt: out.ExpiresAt, opts: opts}
	var material []byte
	switch out.Mode {
	case keygate.PayloadEncryptionDynamic:
		wrapped, err := base64.StdEncoding.DecodeString(out.WrappedKey)
		if err != nil {
			return nil, errors.New("keygate session: wrapped_key is not base64")
		}
		switch k := priv.(type) {
		case *ecdh.PrivateKey:
			material, err = sessioncrypto.UnwrapX25519(k, out.Session, wrapped)
		case *rsa.PrivateKey:
			material, err = sessioncrypto.UnwrapRSA(k, out.Session, wrapped)
		}
		if err != nil {
			return nil, err
		}
	case keygate.PayloadEncryptionStatic:
		if opts.StaticKey == nil {
			return nil, errors.New("keygate session: the route uses a static key, and SessionOptions.StaticKey is empty")
		}
		material = opts.StaticKey
	default:
		return nil, fmt.Errorf("keygate session: unknown mode %q", out.Mode)
	}
	if s.key, err = sessioncrypto.NewKey(material); err != nil {
		return nil, err
	}
	return s, nil
}

// sessionCall sends req with the credential and decodes a want answer into out.
func sessionCall(opts SessionOptions, req *http.Request, want int, out any) error {
	if opts.Authorize != nil {
		if err := opts.Authorize(req); err != nil {
			return err
		}
	}
	res, err := opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return gatewayError(res.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// GatewayError is a refusal of the gateway (its {"message": ...} answer).
type GatewayError struct {
	Status    int
	Message   string
	RequestID string
}

func (e *GatewayError) Error() string {
	return fmt.Sprintf("keygate gateway: %s (HTTP %d, request id %s)", e.Message, e.Status, e.RequestID)
}

func gatewayError(status int, body []byte) error {
	e := &GatewayError{Status: status}
	var m struct {
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(body, &m) == nil {
		e.Message, e.RequestID = m.Message, m.RequestID
	}
	return e
}

// Client returns an HTTP client whose requests go through the session.
func (s *Session) Client() *http.Client {
	c := *s.opts.HTTPClient
	c.Transport = s
	return &c
}

// Close ends the session at the gateway (logout); its key stops working on
// every node.
func (s *Session) Close(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.opts.Gateway+sessioncrypto.DefaultSessionPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set(sessioncrypto.HeaderSession, s.ID)
	return sessionCall(s.opts, req, http.StatusNoContent, nil)
}

// NextSequence reserves a sequence number, for callers sealing by hand.
func (s *Session) NextSequence() uint64 { return s.seq.Add(1) }

// Key is the session key, for callers sealing by hand (SealJSONRPC).
func (s *Session) Key() *sessioncrypto.Key { return s.key }

// RoundTrip seals req's body (or its params, for JSON-RPC), sends it with
// the session and the credential, and opens the answer. A refusal of the
// gateway comes back as it is, unsealed.
func (s *Session) RoundTrip(orig *http.Request) (*http.Response, error) {
	req := orig.Clone(orig.Context())
	var body []byte
	if orig.Body != nil {
		var err error
		body, err = io.ReadAll(orig.Body)
		orig.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	path := req.URL.Path
	if path == "" {
		path = "/"
	}
	seq := s.NextSequence()
	rpc := false
	switch {
	case len(body) == 0:
		env, err := s.key.SealRequest(nil, s.ID, seq, req.Method, path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(sessioncrypto.HeaderEnvelope, base64.StdEncoding.EncodeToString(env))
	case s.opts.JSONRPC && isJSON(req.Header.Get("Content-Type")):
		sealed, err := sealJSONRPCParams(s.key, s.ID, seq, req.Method, path, body)
		if err != nil {
			return nil, err
		}
		body, rpc = sealed, true
	default:
		env, err := s.key.SealRequest(nil, s.ID, seq, req.Method, path, body)
		if err != nil {
			return nil, err
		}
		if ct := req.Header.Get("Content-Type"); ct != "" {
			req.Header.Set(sessioncrypto.HeaderContentType, ct)
		}
		req.Header.Set("Content-Type", sessioncrypto.EnvelopeMediaType)
		body = env
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Set(sessioncrypto.HeaderSession, s.ID)
	if s.opts.Authorize != nil {
		if err := s.opts.Authorize(req); err != nil {
			return nil, err
		}
	}
	transport := s.opts.HTTPClient.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	res, err := transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return s.open(res, seq, req.Method, path, rpc)
}

// open replaces a sealed answer's body with its plaintext.
func (s *Session) open(res *http.Response, seq uint64, method, path string, rpc bool) (*http.Response, error) {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt != sessioncrypto.EnvelopeMediaType && !(rpc && mt == "application/json") {
		return res, nil // not sealed: the gateway's own answer (a refusal)
	}
	sealed, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	var plain []byte
	if mt == sessioncrypto.EnvelopeMediaType {
		if plain, err = s.key.OpenResponse(nil, s.ID, seq, method, path, sealed); err != nil {
			return nil, fmt.Errorf("keygate session: answer: %w", err)
		}
		res.Header.Set("Content-Type", res.Header.Get(sessioncrypto.HeaderContentType))
		if res.Header.Get("Content-Type") == "" {
			res.Header.Del("Content-Type")
		}
		res.Header.Del(sessioncrypto.HeaderContentType)
		if ce := res.Header.Get("Keygate-Content-Encoding"); ce != "" { // the plaintext is compressed
			res.Header.Set("Content-Encoding", ce)
			res.Header.Del("Keygate-Content-Encoding")
		}
	} else if plain, err = openJSONRPCResult(s.key, s.ID, seq, method, path, sealed); err != nil {
		return nil, err
	}
	res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(plain)), int64(len(plain))
	res.Header.Del("Content-Length")
	return res, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json"
}

// sealJSONRPCParams replaces a JSON-RPC request's params with their
// envelope, {"format": "Encrypted", "value": ...}.
func sealJSONRPCParams(key *sessioncrypto.Key, id string, seq uint64, method, path string, body []byte) ([]byte, error) {
	var call map[string]json.RawMessage
	if err := json.Unmarshal(body, &call); err != nil {
		return nil, fmt.Errorf("keygate session: a JSON-RPC request must be one object: %w", err)
	}
	params := call["params"]
	if params == nil {
		params = json.RawMessage("null")
	}
	env, err := key.SealRequest(nil, id, seq, method, path, params)
	if err != nil {
		return nil, err
	}
	call["params"], _ = json.Marshal(sessioncrypto.SealedValue{Format: sessioncrypto.EncryptedFormat, Value: base64.StdEncoding.EncodeToString(env)})
	return json.Marshal(call)
}

// openJSONRPCResult opens a sealed result in a JSON-RPC answer; an answer
// without one (an error) is returned as it is.
func openJSONRPCResult(key *sessioncrypto.Key, id string, seq uint64, method, path string, body []byte) ([]byte, error) {
	var answer map[string]json.RawMessage
	if err := json.Unmarshal(body, &answer); err != nil {
		return body, nil
	}
	raw, ok := answer["result"]
	if !ok {
		return body, nil
	}
	var sv sessioncrypto.SealedValue
	if err := json.Unmarshal(raw, &sv); err != nil || sv.Format != sessioncrypto.EncryptedFormat {
		return nil, errors.New("keygate session: the JSON-RPC result is not sealed")
	}
	env, err := base64.StdEncoding.DecodeString(sv.Value)
	if err != nil {
		return nil, errors.New("keygate session: the sealed result is not base64")
	}
	plain, err := key.OpenResponse(nil, id, seq, method, path, env)
	if err != nil {
		return nil, fmt.Errorf("keygate session: result: %w", err)
	}
	answer["result"] = plain
	return json.Marshal(answer)
}

// SetPayloadKey sets a route's static key (admin API): key nil has one
// generated. The answer holds the key, shown this once.
func (c *Client) SetPayloadKey(ctx context.Context, route string, key []byte) (*keygate.IssuedPayloadKey, error) {
	var req keygate.PayloadKeyRequest
	if key != nil {
		req.Key = base64.StdEncoding.EncodeToString(key)
	}
	return call[keygate.IssuedPayloadKey](ctx, c, http.MethodPost, at("routes", route)+"/payload-key", req)
}

// PayloadSessions lists payload sessions, of one consumer when consumer is
// set (id or username); never their keys.
func (c *Client) PayloadSessions(ctx context.Context, consumer string, p keygate.Page) ([]*keygate.PayloadSession, string, error) {
	path := "/v1/payload-sessions"
	if consumer != "" {
		path += "?consumer=" + url.QueryEscape(consumer)
	}
	return list[*keygate.PayloadSession](ctx, c, path, p)
}

// PayloadSession returns one payload session, never its key.
func (c *Client) PayloadSession(ctx context.Context, id string) (*keygate.PayloadSession, error) {
	return call[keygate.PayloadSession](ctx, c, http.MethodGet, at("payload-sessions", id), nil)
}

// EndPayloadSession ends a session (an admin's logout of it).
func (c *Client) EndPayloadSession(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, at("payload-sessions", id), nil, nil)
}
