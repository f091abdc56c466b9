package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/keyauth"
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
func (p *Proxy) selfRotate(w http.ResponseWriter, r *http.Request, client netip.Addr) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, r, http.StatusMethodNotAllowed, "Use POST to rotate your key")
		return
	}
	// Scope restrictions (services, routes) do not apply to the key itself;
	// its state and network restrictions do.
	authn := p.selfAuth
	res, err := authn.Authenticate(r, keygate.Target{IP: client, Unscoped: true})
	switch {
	case err != nil:
		p.cfg.Logger.Error("self-service rotation: key check failed", "request_id", requestIDOf(r), "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "Service temporarily unavailable")
		return
	case res.Verdict == auth.Forbidden:
		writeError(w, r, http.StatusForbidden, res.Message)
		return
	case res.Verdict != auth.Granted:
		w.Header().Set("WWW-Authenticate", authn.Challenge())
		writeError(w, r, http.StatusUnauthorized, res.Message)
		return
	}
	if wait := p.selfRotations.take(res.Consumer.ID, p.cfg.Now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		writeError(w, r, http.StatusTooManyRequests, "Too many key rotations; try again later")
		return
	}
	var req keygate.RotateKeyRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10+1))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "Could not read the request body")
		return
	}
	if len(body) > 4<<10 {
		writeError(w, r, http.StatusRequestEntityTooLarge, "Request body too large")
		return
	}
	if len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, r, http.StatusBadRequest, "Body must be {\"grace_period\": seconds}")
			return
		}
	}
	// The caller itself acts, for the audit trail.
	ctx := keygate.WithReason(keygate.WithActor(r.Context(), "key:"+res.CredentialID), "self-service rotation")
	rot, err := p.cfg.Rotator.Rotate(ctx, res.CredentialID, req)
	if keygate.ErrorCode(err) == keygate.ECONFLICT && p.cfg.Pickup != nil {
		// Rotated already: perhaps by its consumer's policy, for pickup.
		ctx := keygate.WithReason(keygate.WithActor(r.Context(), "key:"+res.CredentialID), "pickup of a scheduled rotation")
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
		status := http.StatusServiceUnavailable
		switch keygate.ErrorCode(err) {
		case keygate.EINVALID:
			status = http.StatusBadRequest
		case keygate.ECONFLICT:
			status = http.StatusConflict
		case keygate.ENOTFOUND:
			status = http.StatusUnauthorized // deleted in between
		default:
			p.cfg.Logger.Error("self-service rotation failed", "request_id", requestIDOf(r), "error", err)
		}
		msg := keygate.ErrorMessage(err)
		if status == http.StatusServiceUnavailable {
			msg = "Service temporarily unavailable"
		}
		writeError(w, r, status, msg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store") // the answer holds a key
	h.Set(headerRequestID, requestIDOf(r))
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(rot)
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
func sunsetHeaders(h http.Header, res auth.Result, now time.Time, notice time.Duration) {
	if !res.DeprecatedAt.IsZero() {
		h.Set("Deprecation", "@"+strconv.FormatInt(res.DeprecatedAt.Unix(), 10))
	}
	if !res.Sunset.IsZero() && (!res.DeprecatedAt.IsZero() || res.Sunset.Sub(now) <= notice) {
		h.Set("Sunset", res.Sunset.UTC().Format(http.TimeFormat))
	}
}
