package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of every delivery. The body is the event as JSON (keygate.Event):
//
//	POST <webhook url>
//	Content-Type: application/json
//	Keygate-Event-Id: <event id; the same on every retry and every webhook>
//	Keygate-Event-Type: <event type, e.g. key.rotated>
//	Keygate-Delivery-Id: <this event's delivery to this webhook>
//	Keygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The signature works like Stripe's: the HMAC key is the webhook's secret,
// the whole string shown when the webhook was created (whsec_ included); the
// signed message is the timestamp, a dot and the raw body. Each attempt is
// signed afresh, so t is the time of the attempt, not of the event.
// Receivers should ignore other keys in the header: a later scheme (v2) or
// several v1 values (while a secret is rolled) may appear.
const (
	SignatureHeader  = "Keygate-Signature"
	EventIDHeader    = "Keygate-Event-Id"
	EventTypeHeader  = "Keygate-Event-Type"
	DeliveryIDHeader = "Keygate-Delivery-Id"
)

// DefaultTolerance is how far Verify lets a signature's timestamp be from
// the receiver's clock: it bounds how long a captured delivery can be
// replayed.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify. None of them says more about the expected signature.
var (
	ErrNoSignature  = errors.New("webhook: no Keygate-Signature header")
	ErrBadHeader    = errors.New("webhook: malformed Keygate-Signature header")
	ErrTimestamp    = errors.New("webhook: signature timestamp is outside the tolerance")
	ErrBadSignature = errors.New("webhook: no signature matches the body")
)

// Sign returns the Keygate-Signature header of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// maxHeader bounds the header Verify parses.
const maxHeader = 4096

// Verify checks a delivery's Keygate-Signature header against the raw
// request body and the webhook's secret: nil when one v1 signature matches
// and the timestamp is within tolerance of now (either way); tolerance <= 0
// means DefaultTolerance. Read the body as it came, before any JSON
// decoding: re-encoding changes the bytes. To reject replays within the
// tolerance too, remember the Keygate-Event-Id values seen (retries of one
// event carry the same id, and keygate delivers at least once).
func Verify(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if header == "" {
		return ErrNoSignature
	}
	if len(header) > maxHeader {
		return ErrBadHeader
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadHeader
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrBadHeader
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrBadHeader
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadHeader
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac([]byte(secret), ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return ErrBadSignature
}
