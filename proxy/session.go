package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sessioncrypto"
	"github.com/valyala/fasthttp"
)

// Payload encryption on the wire: see package sessioncrypto.
const (
	DefaultSessionPath = sessioncrypto.DefaultSessionPath
	HeaderSession      = sessioncrypto.HeaderSession
	HeaderEnvelope     = sessioncrypto.HeaderEnvelope
	HeaderContentType  = sessioncrypto.HeaderContentType
	EnvelopeMediaType  = sessioncrypto.EnvelopeMediaType
	EncryptedFormat    = sessioncrypto.EncryptedFormat
)

// Bounds of payload encryption.
const (
	// maxSealedBody bounds a body sealed or opened whole (both ways).
	maxSealedBody = 8 << 20
	// maxHandshakeBody bounds a handshake's body (an RSA key of 8192 bits in
	// base64 is about 1.5 KiB).
	maxHandshakeBody = 16 << 10
	// DefaultSessionCacheSize is how many live sessions a node holds keys
	// for. When it is full of live sessions, new ones on this node are
	// refused (503) rather than one evicted, as an evicted session would
	// lose its replay window.
	DefaultSessionCacheSize = 100_000
	// sweepInterval is how often a node deletes expired sessions (on a
	// handshake, so an idle node does nothing).
	sweepInterval = time.Minute
)

// PayloadStore is what payload encryption reads and writes.
type PayloadStore interface {
	CreatePayloadSession(ctx context.Context, s *keygate.PayloadSession, seal func(id string) (*keygate.Sealed, error)) error
	FindPayloadSession(ctx context.Context, id string) (*keygate.PayloadSession, error)
	DeletePayloadSession(ctx context.Context, id string) error
	DeleteExpiredPayloadSessions(ctx context.Context, before time.Time, limit int) (int64, error)
	GetSecret(ctx context.Context, kind, id string) (*keygate.Sealed, error)
}

// PayloadConfig enables payload encryption: routes whose payload_encryption
// is static or dynamic are refused (503) without it.
type PayloadConfig struct {
	Store PayloadStore
	// Seal and Open are the keyring's: session keys and static keys are
	// stored sealed.
	Seal func(kind, id string, plaintext []byte) (*keygate.Sealed, error)
	Open func(*keygate.Sealed) ([]byte, error)
	// Shared, when set, is asked about every envelope after the node's own
	// window, so that an envelope replayed to another node of a cluster is
	// refused too (Redis). Nil on one node.
	Shared SharedWindow
	// Events, when set, is told when a session starts and ends.
	Events keygate.Publisher
	// Path is where sessions start and end (DefaultSessionPath when empty).
	Path string
	// CacheSize bounds the live sessions a node holds (DefaultSessionCacheSize).
	CacheSize int
}

// SharedWindow is an anti-replay window every node of a cluster shares
// (redis.PayloadWindow): Accept records seq for the session until until and
// reports whether it is new; an error means it cannot tell.
type SharedWindow interface {
	Accept(ctx context.Context, session string, seq uint64, until time.Time) (bool, error)
}

// liveSession is a session as a node holds it: its key opened, and the
// window of sequence numbers this node has accepted.
type liveSession struct {
	s      *keygate.PayloadSession
	key    *sessioncrypto.Key // nil for a static session
	window sessioncrypto.Window
}

// sessions is a node's payload encryption state.
type sessions struct {
	cfg       PayloadConfig
	mu        sync.Mutex
	live      map[string]*liveSession
	static    map[string]*sessioncrypto.Key // by route id
	lastSweep atomic.Int64                  // unix seconds
}

func newSessions(cfg *PayloadConfig) *sessions {
	if cfg == nil {
		return nil
	}
	c := *cfg
	if c.Path == "" {
		c.Path = DefaultSessionPath
	}
	if c.CacheSize <= 0 {
		c.CacheSize = DefaultSessionCacheSize
	}
	return &sessions{cfg: c, live: map[string]*liveSession{}, static: map[string]*sessioncrypto.Key{}}
}

var errSessionsFull = errors.New("proxy: the node holds as many live payload sessions as it may")

// get returns the live session id, reading the store on a miss.
func (ss *sessions) get(ctx context.Context, id string, now time.Time) (*liveSession, error) {
	ss.mu.Lock()
	l := ss.live[id]
	ss.mu.Unlock()
	if l != nil {
		return l, nil
	}
	s, err := ss.cfg.Store.FindPayloadSession(ctx, id)
	if err != nil {
		return nil, err
	}
	l = &liveSession{s: s}
	if s.Key != nil {
		material, err := ss.cfg.Open(s.Key)
		if err != nil {
			return nil, err
		}
		if l.key, err = sessioncrypto.NewKey(material); err != nil {
			return nil, err
		}
	}
	return ss.add(l, now)
}

// add holds l, or the copy another request added first (whose window counts).
func (ss *sessions) add(l *liveSession, now time.Time) (*liveSession, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if held := ss.live[l.s.ID]; held != nil {
		return held, nil
	}
	if len(ss.live) >= ss.cfg.CacheSize {
		for id, h := range ss.live {
			if h.s.Expired(now) {
				delete(ss.live, id)
			}
		}
		if len(ss.live) >= ss.cfg.CacheSize {
			return nil, errSessionsFull
		}
	}
	ss.live[l.s.ID] = l
	return l, nil
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.live, id)
	ss.mu.Unlock()
}

func (ss *sessions) dropStatic(routeID string) {
	ss.mu.Lock()
	delete(ss.static, routeID)
	ss.mu.Unlock()
}

// staticKey is the route's static key, read from the store on a miss.
func (ss *sessions) staticKey(ctx context.Context, routeID string) (*sessioncrypto.Key, error) {
	ss.mu.Lock()
	k := ss.static[routeID]
	ss.mu.Unlock()
	if k != nil {
		return k, nil
	}
	sealed, err := ss.cfg.Store.GetSecret(ctx, keygate.SealedPayloadStaticKey, routeID)
	if err != nil {
		return nil, err
	}
	material, err := ss.cfg.Open(sealed)
	if err != nil {
		return nil, err
	}
	if k, err = sessioncrypto.NewKey(material); err != nil {
		return nil, err
	}
	ss.mu.Lock()
	ss.static[routeID] = k
	ss.mu.Unlock()
	return k, nil
}

// applySessionChange drops what a change makes stale: a session logged out
// (on any node) or deleted with its consumer, a route's static key.
func (p *Proxy) applySessionChange(c keygate.Change) {
	if p.sessions == nil {
		return
	}
	switch c.Kind {
	case keygate.PayloadSessionChanged:
		if c.Op == keygate.Deleted {
			p.sessions.drop(c.ID)
		}
	case keygate.RouteChanged:
		p.sessions.dropStatic(c.ID)
	}
}

// payloadExchange is what the request path keeps of an opened envelope to
// seal the answer with.
type payloadExchange struct {
	sessionID string
	key       *sessioncrypto.Key
	seq       uint64
	method    string
	path      string
	jsonRPC   bool
}

// sessionEndpoint starts (POST) or ends (DELETE) a session.
func (p *Proxy) sessionEndpoint(x *exchange, method string) {
	x.ctx.Response.Header.Set("Cache-Control", "no-store")
	switch method {
	case fasthttp.MethodPost:
		p.handshake(x)
	case fasthttp.MethodDelete:
		p.logout(x)
	default:
		x.ctx.Response.Header.Set("Allow", "POST, DELETE")
		p.writeError(x, fasthttp.StatusMethodNotAllowed, "Use POST to start a payload session and DELETE to end one")
	}
}

func (p *Proxy) handshake(x *exchange) {
	stream := x.ctx.Request.IsBodyStream()
	body, err := readBody(&x.ctx.Request, maxHandshakeBody)
	switch {
	case errors.Is(err, errBodyTooLarge):
		p.writeError(x, fasthttp.StatusRequestEntityTooLarge, "Request body too large")
		return
	case err != nil:
		p.callerBodyFailed(x, err)
		return
	}
	if stream { // put back for an authenticator that signs the body
		x.ctx.Request.SetBody(body)
	}
	var req sessioncrypto.HandshakeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		p.writeError(x, fasthttp.StatusBadRequest, `Body must be {"path": "/a/route/path", "method": "POST", "key_type": "x25519", "public_key": "<base64>", "lifetime": seconds}`)
		return
	}
	if req.Method == "" {
		req.Method = fasthttp.MethodPost
	}
	if req.Path == "" || req.Path[0] != '/' || badPath(cleanPath(req.Path)) {
		p.writeError(x, fasthttp.StatusBadRequest, "path: required, the path of a request on the route (starting with /)")
		return
	}
	rt, _ := p.table.Load().match(string(x.ctx.Request.Header.Host()), cleanPath(req.Path), req.Method)
	if rt == nil {
		p.writeError(x, fasthttp.StatusNotFound, "no Route matched with those values")
		return
	}
	if !rt.EncryptsPayloads() {
		p.writeError(x, fasthttp.StatusBadRequest, "path: the route does not encrypt payloads (payload_encryption is off)")
		return
	}
	x.route = rt
	if !p.authenticate(x) {
		return
	}
	if len(x.ctx.Request.Header.Peek(headerAnonymous)) > 0 {
		p.writeError(x, fasthttp.StatusUnauthorized, "A payload session needs a credential; anonymous callers cannot start one")
		return
	}
	lifetime := keygate.DefaultPayloadSessionLifetime
	if req.Lifetime != 0 {
		lifetime = time.Duration(req.Lifetime) * time.Second
		if lifetime < keygate.MinPayloadSessionLifetime || lifetime > keygate.MaxPayloadSessionLifetime {
			p.writeError(x, fasthttp.StatusBadRequest, "lifetime: must be 60 to 86400 seconds")
			return
		}
	}
	s := &keygate.PayloadSession{Consumer: keygate.Ref{ID: x.who.Consumer.ID}, ServiceID: rt.upstream.service.ID, RouteID: rt.ID,
		Mode: rt.PayloadEncryption, ExpiresAt: p.cfg.Now().Add(lifetime)}
	var seal func(id string) (*keygate.Sealed, error)
	var wrapped []byte
	var material []byte
	if s.Mode == keygate.PayloadEncryptionDynamic {
		pub, err := sessioncrypto.ParsePublicKey(req.KeyType, req.PublicKey)
		if err != nil {
			p.writeError(x, fasthttp.StatusBadRequest, err.Error())
			return
		}
		s.KeyType = pub.Type()
		material = sessioncrypto.GenerateKey()
		seal = func(id string) (*keygate.Sealed, error) {
			var err error
			if wrapped, err = pub.Wrap(id, material); err != nil {
				return nil, err
			}
			return p.sessions.cfg.Seal(keygate.SealedPayloadSessionKey, id, material)
		}
	} else {
		s.KeyType = "static"
		if _, err := p.sessions.staticKey(context.Background(), rt.ID); err != nil {
			if keygate.ErrorCode(err) == keygate.ENOTFOUND {
				err = errors.New("no static key is set (keygate payload set-key " + rt.Name + ")")
			}
			p.payloadUnavailable(x, "static key of route "+rt.Name, err)
			return
		}
	}
	ctx := keygate.WithReason(keygate.WithActor(context.Background(), "consumer:"+x.who.Consumer.ID), "payload session handshake")
	if err := p.sessions.cfg.Store.CreatePayloadSession(ctx, s, seal); err != nil {
		if keygate.ErrorCode(err) == keygate.ENOTFOUND { // the consumer was deleted in between
			p.writeError(x, fasthttp.StatusUnauthorized, "Unknown consumer")
			return
		}
		p.payloadUnavailable(x, "payload session", err)
		return
	}
	l := &liveSession{s: s}
	if material != nil {
		l.key, _ = sessioncrypto.NewKey(material)
	}
	p.sessions.add(l, p.cfg.Now()) // full: read from the store on first use (and refused then if still full)
	p.sweepSessions()
	p.publishSession(ctx, keygate.EventPayloadSessionCreated, s, "consumer:"+s.Consumer.ID)
	res := sessioncrypto.HandshakeResponse{Session: s.ID, Mode: s.Mode, ExpiresAt: s.ExpiresAt, EnvelopeVersion: sessioncrypto.Version}
	if wrapped != nil {
		res.KeyType, res.WrappedKey = s.KeyType, base64.StdEncoding.EncodeToString(wrapped)
	}
	out, _ := json.Marshal(res)
	p.gatewayHeaders(x)
	x.ctx.Response.SetStatusCode(fasthttp.StatusCreated)
	x.ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	x.ctx.Response.SetBodyRaw(append(out, '\n'))
}

// sweepSessions deletes expired sessions, at most once a sweepInterval per
// node, in the background.
func (p *Proxy) sweepSessions() {
	now := p.cfg.Now()
	last := p.sessions.lastSweep.Load()
	if now.Unix()-last < int64(sweepInterval/time.Second) || !p.sessions.lastSweep.CompareAndSwap(last, now.Unix()) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := p.sessions.cfg.Store.DeleteExpiredPayloadSessions(ctx, now, 1000); err != nil {
			p.cfg.Logger.Warn("deleting expired payload sessions failed", "error", err)
		}
	}()
}

func (p *Proxy) logout(x *exchange) {
	id := string(x.ctx.Request.Header.Peek(HeaderSession))
	if id == "" {
		p.writeError(x, fasthttp.StatusBadRequest, "Send the session to end in the "+HeaderSession+" header")
		return
	}
	ctx := context.Background()
	l, err := p.sessions.get(ctx, id, p.cfg.Now())
	if err != nil {
		p.sessionRefused(x, err)
		return
	}
	p.reloading.Lock()
	rt := p.routes[l.s.RouteID]
	p.reloading.Unlock()
	if rt == nil {
		p.writeError(x, fasthttp.StatusNotFound, "The session's route no longer exists; the session ends when it expires")
		return
	}
	x.route = rt
	if !p.authenticate(x) {
		return
	}
	if x.who.Consumer.ID != l.s.Consumer.ID {
		p.writeError(x, fasthttp.StatusUnauthorized, "Unknown or ended payload session")
		return
	}
	actx := keygate.WithReason(keygate.WithActor(ctx, "consumer:"+x.who.Consumer.ID), "payload session logout")
	if err := p.sessions.cfg.Store.DeletePayloadSession(actx, l.s.ID); err != nil && keygate.ErrorCode(err) != keygate.ENOTFOUND {
		p.payloadUnavailable(x, "payload session logout", err)
		return
	}
	p.sessions.drop(l.s.ID)
	p.publishSession(actx, keygate.EventPayloadSessionEnded, l.s, "consumer:"+l.s.Consumer.ID)
	p.gatewayHeaders(x)
	x.ctx.Response.SetStatusCode(fasthttp.StatusNoContent)
}

func (p *Proxy) publishSession(ctx context.Context, typ string, s *keygate.PayloadSession, by string) {
	if p.sessions.cfg.Events == nil {
		return
	}
	e := keygate.Event{Type: typ, CreatedAt: p.cfg.Now(), ConsumerID: s.Consumer.ID, Data: s.EventData(by)}
	if err := p.sessions.cfg.Events.Publish(ctx, e); err != nil {
		p.cfg.Logger.Warn("event not queued", "type", typ, "error", err)
	}
}

// sessionRefused answers a session lookup that failed: 401 for a session
// that does not exist (never did, logged out, swept), 503 otherwise.
func (p *Proxy) sessionRefused(x *exchange, err error) {
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		p.writeError(x, fasthttp.StatusUnauthorized, "Unknown or ended payload session; start a new one at "+p.sessions.cfg.Path)
		return
	}
	p.payloadUnavailable(x, "payload session", err)
}

func (p *Proxy) payloadUnavailable(x *exchange, what string, err error) {
	p.cfg.Logger.Error("payload encryption failed", "request_id", x.id, "what", what, "error", err)
	p.writeError(x, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable")
}

// openPayload checks the request's session and opens its envelope into
// the plaintext the upstream gets. It writes the refusal itself and
// reports whether to go on.
func (p *Proxy) openPayload(x *exchange) bool {
	if p.sessions == nil {
		p.cfg.Logger.Error("route encrypts payloads but payload encryption is not configured", "route", x.route.Name)
		p.writeError(x, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable")
		return false
	}
	req := &x.ctx.Request
	id := string(req.Header.Peek(HeaderSession))
	if id == "" {
		p.writeError(x, fasthttp.StatusUnauthorized, "This route encrypts payloads: start a session at POST "+p.sessions.cfg.Path+
			" and send its id in the "+HeaderSession+" header")
		return false
	}
	ctx := context.Background()
	now := p.cfg.Now()
	l, err := p.sessions.get(ctx, id, now)
	switch {
	case errors.Is(err, errSessionsFull):
		p.cfg.Logger.Warn("payload session cache full", "request_id", x.id)
		p.writeError(x, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable")
		return false
	case err != nil:
		p.sessionRefused(x, err)
		return false
	}
	s := l.s
	switch {
	case s.Expired(now):
		p.sessions.drop(s.ID)
		p.writeError(x, fasthttp.StatusUnauthorized, "Payload session expired; start a new one at "+p.sessions.cfg.Path)
		return false
	case s.Consumer.ID != x.who.Consumer.ID:
		p.writeError(x, fasthttp.StatusUnauthorized, "Unknown or ended payload session; start a new one at "+p.sessions.cfg.Path)
		return false
	case s.ServiceID != x.route.upstream.service.ID:
		p.writeError(x, fasthttp.StatusUnauthorized, "The payload session was started for another service; start one for this route")
		return false
	case s.Mode != x.route.PayloadEncryption:
		p.writeError(x, fasthttp.StatusUnauthorized, "The route's payload encryption changed to "+x.route.PayloadEncryption+"; start a new session")
		return false
	}
	key := l.key
	if s.Mode == keygate.PayloadEncryptionStatic {
		if key, err = p.sessions.staticKey(ctx, x.route.ID); err != nil {
			p.payloadUnavailable(x, "static key of route "+x.route.Name, err)
			return false
		}
	}
	pe := &payloadExchange{sessionID: s.ID, key: key, method: string(req.Header.Method()), path: x.path}
	body, err := readBody(req, maxSealedBody)
	switch {
	case errors.Is(err, errBodyTooLarge):
		p.writeError(x, fasthttp.StatusRequestEntityTooLarge, "Request body too large to open (at most 8 MiB on an encrypting route)")
		return false
	case err != nil:
		p.callerBodyFailed(x, err)
		return false
	}
	mediaType, _, _ := mime.ParseMediaType(string(req.Header.ContentType()))
	var plain []byte
	var msg string
	switch {
	case len(body) == 0:
		env, derr := base64.StdEncoding.DecodeString(string(req.Header.Peek(HeaderEnvelope)))
		if derr != nil || len(env) == 0 {
			msg = "A request without a body carries the envelope of an empty body in the " + HeaderEnvelope + " header (standard base64)"
			break
		}
		plain, pe.seq, err = key.OpenRequest(nil, s.ID, pe.method, pe.path, env)
		if err == nil && len(plain) > 0 {
			msg = "The " + HeaderEnvelope + " header seals an empty body; send a body as the request's body"
		}
	case mediaType == EnvelopeMediaType:
		plain, pe.seq, err = key.OpenRequest(nil, s.ID, pe.method, pe.path, body)
		if err == nil {
			if ct := req.Header.Peek(HeaderContentType); len(ct) > 0 {
				req.Header.SetContentTypeBytes(ct)
			} else {
				req.Header.Del("Content-Type")
			}
		}
	case mediaType == "application/json" && isJSONRPC(body):
		pe.jsonRPC = true
		plain, pe.seq, msg, err = openJSONRPC(key, s.ID, pe.method, pe.path, body)
	default:
		msg = "This route encrypts payloads: send the body as an envelope (Content-Type: " + EnvelopeMediaType +
			`) or JSON-RPC params as {"format": "Encrypted", "value": "<base64 envelope>"}`
	}
	if err != nil {
		msg = envelopeRefusal(err)
	}
	if msg != "" {
		p.writeError(x, fasthttp.StatusBadRequest, msg)
		return false
	}
	if !l.window.Accept(pe.seq) {
		p.writeError(x, fasthttp.StatusUnauthorized, "Envelope replayed: its sequence number was used already, or is too far behind")
		return false
	}
	if g := p.sessions.cfg.Shared; g != nil {
		fresh, err := g.Accept(ctx, s.ID, pe.seq, s.ExpiresAt)
		switch {
		case err != nil:
			p.payloadUnavailable(x, "shared replay window", err)
			return false
		case !fresh:
			p.writeError(x, fasthttp.StatusUnauthorized, "Envelope replayed: its sequence number was used already (on another node), or is too far behind")
			return false
		}
	}
	req.Header.Del(HeaderSession)
	req.Header.Del(HeaderEnvelope)
	req.Header.Del("Accept-Encoding") // the answer is sealed whole: ask for it uncompressed
	req.Header.Del(HeaderContentType)
	req.SetBody(plain)
	x.payload = pe
	return true
}

func envelopeRefusal(err error) string {
	switch {
	case errors.Is(err, sessioncrypto.ErrVersion):
		return "Envelope version not supported (this gateway reads version 1)"
	case errors.Is(err, sessioncrypto.ErrMalformed):
		return "Envelope too short"
	case errors.Is(err, sessioncrypto.ErrSequence):
		return "Envelope sequence number must be at least 1"
	}
	return "Envelope does not open: tampered, or sealed with another key, for another session, method or path"
}

func isJSONRPC(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && bytes.Contains(b, []byte(`"jsonrpc"`))
}

// openJSONRPC opens a JSON-RPC 2.0 request whose params are sealed; msg
// says what is wrong with one that is not.
func openJSONRPC(key *sessioncrypto.Key, sessionID, method, path string, body []byte) (out []byte, seq uint64, msg string, err error) {
	var call map[string]json.RawMessage
	if err := json.Unmarshal(body, &call); err != nil {
		return nil, 0, "Body is not a JSON-RPC 2.0 request object (batches are not accepted on an encrypting route)", nil
	}
	raw, ok := call["params"]
	var sv sessioncrypto.SealedValue
	if !ok || json.Unmarshal(raw, &sv) != nil || sv.Format != EncryptedFormat || sv.Value == "" {
		return nil, 0, `This route encrypts payloads: JSON-RPC params must be {"format": "Encrypted", "value": "<base64 envelope>"}`, nil
	}
	env, derr := base64.StdEncoding.DecodeString(sv.Value)
	if derr != nil {
		return nil, 0, "params.value: must be standard base64", nil
	}
	plain, seq, err := key.OpenRequest(nil, sessionID, method, path, env)
	if err != nil {
		return nil, 0, "", err
	}
	if !json.Valid(plain) {
		return nil, 0, "params: the sealed value is not JSON", nil
	}
	call["params"] = plain
	out, err = json.Marshal(call)
	if err != nil {
		return nil, 0, "", err
	}
	return out, seq, "", nil
}

// sealPayload seals the upstream's answer for the caller: a whole body as
// one envelope, or a JSON-RPC result as {"format": "Encrypted", ...}.
// The gateway's own refusals are not sealed.
func (p *Proxy) sealPayload(x *exchange) {
	pe := x.payload
	res := &x.ctx.Response
	if x.gatewayAnswered || x.ctx.IsHead() {
		return
	}
	var body []byte
	if res.IsBodyStream() {
		b, err := io.ReadAll(io.LimitReader(res.BodyStream(), maxSealedBody+1))
		res.CloseBodyStream()
		if err != nil || len(b) > maxSealedBody {
			res.Reset()
			if err == nil {
				err = errors.New("answer over 8 MiB, too large to seal")
			}
			p.upstreamFailed(x, err)
			return
		}
		body = b
	} else {
		body = res.Body()
	}
	if pe.jsonRPC {
		if out, ok := sealJSONRPC(pe, body); ok {
			res.SetBody(out)
			return
		}
	}
	env, err := pe.key.SealResponse(nil, pe.sessionID, pe.seq, pe.method, pe.path, body)
	if err != nil {
		res.Reset()
		p.payloadUnavailable(x, "seal answer", err)
		return
	}
	if ct := res.Header.ContentType(); len(ct) > 0 {
		res.Header.SetBytesV(HeaderContentType, ct)
	}
	if ce := res.Header.Peek("Content-Encoding"); len(ce) > 0 { // an upstream that compressed anyway: say so inside
		res.Header.SetBytesV("Keygate-Content-Encoding", ce)
		res.Header.Del("Content-Encoding")
	}
	res.Header.SetContentType(EnvelopeMediaType)
	res.SetBody(env)
}

// sealJSONRPC seals the result of a JSON-RPC answer; an answer without one
// (an error object) goes as it is. ok is false for a body that is not a
// JSON-RPC answer object, sealed whole instead.
func sealJSONRPC(pe *payloadExchange, body []byte) ([]byte, bool) {
	var answer map[string]json.RawMessage
	if json.Unmarshal(body, &answer) != nil || answer["jsonrpc"] == nil {
		return nil, false
	}
	result, ok := answer["result"]
	if !ok {
		return body, true
	}
	env, err := pe.key.SealResponse(nil, pe.sessionID, pe.seq, pe.method, pe.path, result)
	if err != nil {
		return nil, false
	}
	answer["result"], _ = json.Marshal(sessioncrypto.SealedValue{Format: EncryptedFormat, Value: base64.StdEncoding.EncodeToString(env)})
	out, err := json.Marshal(answer)
	return out, err == nil
}
