package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/keyauth"
	"github.com/valyala/fasthttp"
)

// DefaultSelfRotatePath is where callers rotate their own key.
const DefaultSelfRotatePath = "/.keygate/rotate"

// Self-service rotations allowed per consumer and window: enough for a
// caller that rotates on schedule or retries, too few to churn keys.
const (
	selfRotateLimit  = 5
	selfRotateWindow = time.Hour
)

// selfRotate lets a caller holding a valid key get its successor without an
// admin: POST <SelfRotatePath> with the key as on any route (apikey header or
// Authorization: Bearer), optionally {"grace_period": seconds}. The answer
// is the admin API's rotation answer: the new key, shown once, and the old
// key with the time it stops working.
//
// A key that has a successor already cannot start a second chain (409),
// with one exception: when an automatic rotation kept its successor for
// pickup, the first call gets that successor (201, the same answer), and
// the kept copy is destroyed; the next call gets the 409.
func (p *Proxy) selfRotate(x *exchange, method string) {
	if method != fasthttp.MethodPost {
		x.ctx.Response.Header.Set("Allow", fasthttp.MethodPost)
		p.writeError(x, fasthttp.StatusMethodNotAllowed, "Use POST to rotate your key")
		return
	}
	// Scope restrictions (services, routes) do not apply to the key itself;
	// its state and network restrictions do.
	authn := p.selfAuth
	res, err := authn.Authenticate(context.Background(), &x.ctx.Request, keygate.Target{IP: x.client, Unscoped: true})
	switch {
	case err != nil:
		p.cfg.Logger.Error("self-service rotation: key check failed", "request_id", x.id, "error", err)
		p.writeError(x, fasthttp.StatusServiceUnavailable, "Service temporarily unavailable")
		return
	case res.Verdict == auth.Forbidden:
		p.writeError(x, fasthttp.StatusForbidden, res.Message)
		return
	case res.Verdict != auth.Granted:
		x.ctx.Response.Header.Set("WWW-Authenticate", authn.Challenge())
		p.writeError(x, fasthttp.StatusUnauthorized, res.Message)
		return
	}
	if wait := p.selfRotations.take(res.Consumer.ID, p.cfg.Now()); wait > 0 {
		x.ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		p.writeError(x, fasthttp.StatusTooManyRequests, "Too many key rotations; try again later")
		return
	}
	var req keygate.RotateKeyRequest
	body, err := readBody(&x.ctx.Request, 4<<10)
	switch {
	case errors.Is(err, errBodyTooLarge):
		p.writeError(x, fasthttp.StatusRequestEntityTooLarge, "Request body too large")
		return
	case err != nil:
		p.writeError(x, fasthttp.StatusBadRequest, "Could not read the request body")
		return
	}
	if len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			p.writeError(x, fasthttp.StatusBadRequest, "Body must be {\"grace_period\": seconds}")
			return
		}
	}
	// The caller itself acts, for the audit trail.
	ctx := keygate.WithReason(keygate.WithActor(context.Background(), "key:"+res.CredentialID), "self-service rotation")
	rot, err := p.cfg.Rotator.Rotate(ctx, res.CredentialID, req)
	if keygate.ErrorCode(err) == keygate.ECONFLICT && p.cfg.Pickup != nil {
		// Rotated already: perhaps by its consumer's policy, for pickup.
		ctx := keygate.WithReason(keygate.WithActor(context.Background(), "key:"+res.CredentialID), "pickup of a scheduled rotation")
		switch picked, perr := p.cfg.Pickup.PickUp(ctx, res.CredentialID); keygate.ErrorCode(perr) {
		case "":
			rot, err = picked, nil
		case keygate.ENOTFOUND: // nothing kept: the conflict stands
		default:
			err = perr
		}
	}
	if err != nil {
		// Only rotations that happened count against the limit: a refused one
		// must not let one key block the rotation of its consumer's others.
		p.selfRotations.refund(res.Consumer.ID)
		status := fasthttp.StatusServiceUnavailable
		switch keygate.ErrorCode(err) {
		case keygate.EINVALID:
			status = fasthttp.StatusBadRequest
		case keygate.ECONFLICT:
			status = fasthttp.StatusConflict
		case keygate.ENOTFOUND:
			status = fasthttp.StatusUnauthorized // deleted in between
		default:
			p.cfg.Logger.Error("self-service rotation failed", "request_id", x.id, "error", err)
		}
		msg := keygate.ErrorMessage(err)
		if status == fasthttp.StatusServiceUnavailable {
			msg = "Service temporarily unavailable"
		}
		p.writeError(x, status, msg)
		return
	}
	answer, err := json.Marshal(rot)
	if err != nil {
		panic(err) // a rotation always encodes
	}
	out := &x.ctx.Response
	out.SetStatusCode(fasthttp.StatusCreated)
	out.Header.SetContentType("application/json; charset=utf-8")
	out.Header.Set("Cache-Control", "no-store") // the answer holds a key
	out.Header.Set(headerRequestID, x.id)
	out.SetBodyRaw(append(answer, '\n'))
}

var errBodyTooLarge = errors.New("request body too large")

// readBody reads r's body whole, up to max bytes.
func readBody(r *fasthttp.Request, max int64) ([]byte, error) {
	if n := r.Header.ContentLength(); n > int(max) {
		return nil, errBodyTooLarge
	}
	if !r.IsBodyStream() {
		if body := r.Body(); int64(len(body)) <= max {
			return body, nil
		}
		return nil, errBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.BodyStream(), max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > max {
		return nil, errBodyTooLarge
	}
	return body, nil
}

// selfRotateAuth reads the caller's key for self-service rotation: from a
// header only, as a query string ends up in URLs and logs.
func selfRotateAuth(v keygate.KeyVerifier) *keyauth.Authenticator {
	cfg := keygate.NewKeyAuthConfig()
	cfg.KeyInQuery = false
	return keyauth.New(*cfg, v)
}

// rotationLimiter counts self-service rotations per consumer in fixed
// windows. It forgets consumers whose window has passed.
type rotationLimiter struct {
	mu      sync.Mutex
	windows map[string]rotationWindow
}

type rotationWindow struct {
	start time.Time
	n     int
}

// take counts one rotation for consumer at now, or says how long to wait.
func (l *rotationLimiter) take(consumer string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]rotationWindow{}
	}
	if len(l.windows) > 100_000 {
		for c, w := range l.windows {
			if now.Sub(w.start) >= selfRotateWindow {
				delete(l.windows, c)
			}
		}
	}
	w := l.windows[consumer]
	if now.Sub(w.start) >= selfRotateWindow {
		w = rotationWindow{start: now}
	}
	if w.n >= selfRotateLimit {
		return w.start.Add(selfRotateWindow).Sub(now)
	}
	w.n++
	l.windows[consumer] = w
	return 0
}

// refund takes back one rotation counted for consumer.
func (l *rotationLimiter) refund(consumer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.windows[consumer]; ok && w.n > 0 {
		w.n--
		l.windows[consumer] = w
	}
}

// sunsetHeaders tell a caller its credential is going away: Sunset (RFC
// 8594) with the time it stops working, while it is in a rotation's grace
// period or within notice of its expiry, and Deprecation (RFC 9745) with
// the time it was replaced.
const (
	headerDeprecation = "Deprecation"
	headerSunset      = "Sunset"
)

func sunsetHeaders(h *fasthttp.ResponseHeader, res *auth.Result, now time.Time, notice time.Duration) {
	if !res.DeprecatedAt.IsZero() {
		h.Set(headerDeprecation, "@"+strconv.FormatInt(res.DeprecatedAt.Unix(), 10))
	}
	if !res.Sunset.IsZero() && (!res.DeprecatedAt.IsZero() || res.Sunset.Sub(now) <= notice) {
		h.Set(headerSunset, res.Sunset.UTC().Format(http.TimeFormat))
	}
}
