package hmacauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/httpsig"
	"github.com/valyala/fasthttp"
)

// Messages as Kong's hmac-auth sends them (kong/plugins/hmac-auth/access.lua).
const (
	msgUnauthorized = "Unauthorized"
	msgNoDate       = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication"
	msgNotValid     = "HMAC signature cannot be verified"
	msgNotSame      = "HMAC signature does not match"
)

// Messages for what Kong does not do.
const (
	msgReplayed  = "HMAC signature cannot be verified, it has already been used"
	msgTooLarge  = "Request body too large to verify its digest"
	msgCreated   = "HMAC signature cannot be verified, a created parameter within the allowed clock skew is required"
	msgExpired   = "HMAC signature cannot be verified, the signature has expired"
	msgCoverage  = "HMAC signature cannot be verified, the signature must cover @method, @authority, @path and, when the request has a query, @query (or @target-uri)"
	msgAlgorithm = "HMAC signature cannot be verified, the algorithm must be hmac-sha256"
	msgNoDigest  = "HMAC signature cannot be verified, the signature must cover content-digest"
	// msgNoDigest's counterpart in Kong's scheme, where Kong itself does
	// not require the Digest to be signed.
	msgNoKongDigest = "HMAC signature cannot be verified, the signature must cover digest"
	msgTooMany      = "HMAC signature cannot be verified, too many signatures in flight for this credential"
)

// maxClockSkew is the largest clock_skew a route may have (the config's
// bound).
const maxClockSkew = 24 * 60 * 60

// maxUsername bounds the usernames looked up: longer ones cannot exist.
const maxUsername = 256

// Authenticator is hmac-auth as configured on one route: Kong's scheme,
// and RFC 9421 signatures on the same credentials.
type Authenticator struct {
	cfg       keygate.HMACAuthConfig
	creds     *Credentials
	replay    ReplayGuard  // nil: replay protection off
	cache     *ReplayCache // replay, when it is the in-memory one
	now       func() time.Time
	skew      int64 // seconds
	maxBody   int64
	algs      [httpsig.HMACSHA512 + 1]bool
	challenge string
}

var _ auth.Authenticator = (*Authenticator)(nil)

// New returns hmac-auth for one route; cfg has been validated with the
// route. replay remembers accepted signatures when cfg.ReplayProtection is
// on; nil means one in-memory cache for the whole process. now is the
// clock for dates (nil: time.Now).
func New(cfg keygate.HMACAuthConfig, creds *Credentials, replay ReplayGuard, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	a := &Authenticator{cfg: cfg, creds: creds, now: now, skew: int64(cfg.ClockSkew), maxBody: int64(cfg.MaxBodySize)}
	if a.skew <= 0 {
		a.skew = keygate.DefaultClockSkew
	}
	a.skew = min(a.skew, maxClockSkew)
	if a.maxBody <= 0 {
		a.maxBody = keygate.DefaultMaxBodySize
	}
	if rc, ok := replay.(*ReplayCache); ok && rc == nil {
		replay = nil // a nil *ReplayCache in the interface is no guard either
	}
	if cfg.ReplayProtection {
		if a.replay = replay; a.replay == nil {
			a.replay = defaultReplay()
		}
		a.cache, _ = a.replay.(*ReplayCache)
		widenReplayWindow(a.skew)
	}
	for _, name := range cfg.Algorithms {
		if alg, ok := httpsig.ParseAlgorithm(name); ok {
			a.algs[alg] = true
		}
	}
	a.challenge = "hmac"
	if cfg.Realm != "" {
		a.challenge = `hmac realm="` + cfg.Realm + `"`
	}
	return a
}

// Challenge is sent with every 401, as Kong (3.6+) sends it.
func (a *Authenticator) Challenge() string { return a.challenge }

// where the credentials were found.
type source uint8

const (
	fromProxyAuthorization source = iota + 1
	fromAuthorization
)

// Authenticate verifies Kong's hmac credentials when the request carries
// them (Proxy-Authorization first, then Authorization), else an RFC 9421
// signature when it carries one. A request with neither is Absent — also
// when it carries another kind's Authorization (Bearer, Basic), so that the
// route's other credential kinds or its anonymous consumer can take it —
// with the message Kong would send.
func (a *Authenticator) Authenticate(ctx context.Context, r *fasthttp.Request, _ keygate.Target) (auth.Result, error) {
	p, src, parsed := findKong(r)
	if src == 0 {
		if has(r, "Signature-Input") || has(r, "Signature") {
			return a.authenticateRFC9421(ctx, r)
		}
		switch {
		case !has(r, "Authorization") && !has(r, "Proxy-Authorization"):
			return absent(msgUnauthorized), nil
		case a.anyDate(r) == 0: // Kong's message; the request is not ours anyway
			return absent(msgNoDate), nil
		}
		return absent(msgNotValid), nil
	}
	if a.cfg.HideCredentials {
		// Hidden whatever the verdict: a bad credential must not reach the
		// upstream either, for instance through the anonymous consumer. On
		// the way out, as p views the header's memory.
		defer hideKong(r)
	}
	if !parsed {
		if a.anyDate(r) == 0 { // Kong checks the date first
			return denied(msgNoDate), nil
		}
		return denied(msgNotValid), nil
	}
	return a.verifyKong(ctx, r, &p)
}

// verifyKong verifies Kong's credentials p, which r carries. (Apart from
// Authenticate, so that each has few enough returns for the compiler to
// inline their defers: on this path, a defer otherwise costs.)
func (a *Authenticator) verifyKong(ctx context.Context, r *fasthttp.Request, p *httpsig.KongParams) (auth.Result, error) {
	date := a.signedDate(r, p.Headers)
	switch {
	case date == 0:
		return denied(msgNoDate), nil
	case !a.validParams(p):
		return denied(msgNotValid), nil
	}
	alg, _ := httpsig.ParseAlgorithm(p.Algorithm)
	var macBuf, sigBuf [64]byte
	sig, sigOK := httpsig.DecodeKongSignature(sigBuf[:0], p.Signature)
	var rk replayKey
	if sigOK {
		rk = a.replayKeyOf(sig)
	}

	var keyBuf [httpsig.MaxPreparedKeySize]byte
	cr, key, err := a.creds.getPrepared(ctx, p.Username, alg, keyBuf[:0])
	defer clear(key)
	if err != nil {
		return auth.Result{}, err
	}
	if !cr.found {
		return denied(msgNotValid), nil
	}
	mac, err := httpsig.KongMACPrepared(macBuf[:0], message{r}, alg, key, p.Headers)
	// p, the username included, views the request's memory: get copies
	// what it keeps.
	if err != nil {
		return denied(msgNotValid), nil
	}
	if !sigOK || subtle.ConstantTimeCompare(mac, sig) != 1 {
		return denied(msgNotSame), nil
	}
	// A signed Digest is checked whatever the route says: the signer
	// vouched for it. validate_request_body further requires one, signed,
	// for any body.
	if digestSigned := httpsig.KongSigns(p.Headers, "Digest"); digestSigned || a.cfg.ValidateRequestBody {
		if res, ok := a.checkDigest(r, digestSigned); !ok {
			return res, nil
		}
	}
	return a.grant(ctx, cr, mac, rk, date)
}

// replayKeyOf hashes a presented signature for the in-memory replay cache
// and has the CPU fetch its slot meanwhile (zero without that cache). Once
// verified, the signature is the MAC the cache remembers.
func (a *Authenticator) replayKeyOf(sig []byte) replayKey {
	if a.cache == nil {
		return replayKey{}
	}
	k := a.cache.key(sig)
	a.cache.prefetch(k)
	return k
}

// hideKong removes the hmac credentials (hide_credentials): whichever of
// Proxy-Authorization and Authorization holds a value in the hmac scheme,
// so that a copy of the credentials in the other header does not reach the
// upstream either. Another scheme's Authorization is the upstream's.
func hideKong(r *fasthttp.Request) {
	for _, name := range [...]string{"Proxy-Authorization", "Authorization"} {
		if v := headerValue(r, name); v != "" {
			if _, ok := httpsig.ParseKong(v); ok || httpsig.HasKongScheme(v) {
				removeHeader(r, name)
			}
		}
	}
}

// findKong returns the Kong credentials and where they were: the first of
// Proxy-Authorization and Authorization that Kong can parse; failing that
// (parsed false), the first that names the hmac scheme.
func findKong(r *fasthttp.Request) (p httpsig.KongParams, src source, parsed bool) {
	pa, au := headerValue(r, "Proxy-Authorization"), headerValue(r, "Authorization")
	if p, ok := httpsig.ParseKong(pa); ok {
		return p, fromProxyAuthorization, true
	}
	if p, ok := httpsig.ParseKong(au); ok {
		return p, fromAuthorization, true
	}
	switch {
	case httpsig.HasKongScheme(pa):
		return httpsig.KongParams{}, fromProxyAuthorization, false
	case httpsig.HasKongScheme(au):
		return httpsig.KongParams{}, fromAuthorization, false
	}
	return httpsig.KongParams{}, 0, false
}

// validParams is Kong's validate_params, plus bounds Kong does not have:
// the username and signature are present, every enforced header is signed
// (names compared exactly), the algorithm is one the route accepts.
func (a *Authenticator) validParams(p *httpsig.KongParams) bool {
	if p.Username == "" || p.Signature == "" || len(p.Username) > maxUsername ||
		httpsig.CountKongHeaders(p.Headers) > httpsig.MaxSignedHeaders {
		return false
	}
	for _, h := range a.cfg.EnforceHeaders {
		if !hasName(p.Headers, h) {
			return false
		}
	}
	alg, ok := httpsig.ParseAlgorithm(p.Algorithm)
	return ok && a.algs[alg]
}

// hasName reports whether the space-separated list names contains name.
func hasName(names, name string) bool {
	for {
		n, rest, more := strings.Cut(names, " ")
		if n == name {
			return true
		}
		if !more {
			return false
		}
		names = rest
	}
}

// signedDate returns the time of the first signed date header within the
// clock skew, in Unix seconds; 0 when there is none. It checks X-Date, then
// Date, as Kong does, but only a header the signature covers: an unsigned
// date proves nothing, and trusting one would let a captured signature be
// replayed long after its time with a fresh date added.
//
// This departs from Kong, which accepts a valid unsigned Date or X-Date:
// a Kong request that signs neither is refused here. Kong's clients sign
// date or x-date, as its documentation tells them to.
func (a *Authenticator) signedDate(r *fasthttp.Request, headers string) int64 {
	for _, name := range [...]string{"X-Date", "Date"} {
		if httpsig.KongSigns(headers, name) {
			if t := a.dateOf(r, name); t != 0 {
				return t
			}
		}
	}
	return 0
}

// anyDate is Kong's date check, signed or not, which only chooses the
// message of a refusal.
func (a *Authenticator) anyDate(r *fasthttp.Request) int64 {
	if t := a.dateOf(r, "X-Date"); t != 0 {
		return t
	}
	return a.dateOf(r, "Date")
}

// dateOf returns the time in header name if it is within the clock skew,
// in Unix seconds; 0 otherwise.
func (a *Authenticator) dateOf(r *fasthttp.Request, name string) int64 {
	t, ok := parseHTTPDate(headerValue(r, name))
	if !ok {
		return 0
	}
	if d := a.now().Unix() - t; d > a.skew || d < -a.skew {
		return 0
	}
	return t
}

// maxHTTPDate bounds the date values parsed: the longest HTTP date (RFC
// 850's, "Wednesday, 09-Nov-94 08:49:37 GMT") has 33 bytes; 64 leaves
// room for fractional seconds, which Go's parser takes. A longer value
// would cost http.ParseTime a quoted copy of it per layout tried.
const maxHTTPDate = 64

// parseHTTPDate parses an HTTP date (http.ParseTime) to Unix seconds.
func parseHTTPDate(v string) (int64, bool) {
	if v == "" || len(v) > maxHTTPDate {
		return 0, false
	}
	if t, ok := parseIMFFixdate(v); ok {
		return t, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}

// parseIMFFixdate reads the date format every client sends ("Sun, 06 Nov
// 1994 08:49:37 GMT") in a fraction of http.ParseTime's time; ok is false
// for anything else (other formats, out-of-range fields), which
// http.ParseTime then decides (TestParseIMFFixdate). As http.ParseTime, it
// checks the weekday's name but not that it is the date's.
func parseIMFFixdate(v string) (int64, bool) {
	if len(v) != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
		v[19] != ':' || v[22] != ':' || v[25:] != " GMT" || !isWeekday(v[:3]) {
		return 0, false
	}
	month := monthOf(v[8:11])
	day, ok1 := digits(v[5:7])
	year, ok2 := digits(v[12:16])
	hour, ok3 := digits(v[17:19])
	minute, ok4 := digits(v[20:22])
	sec, ok5 := digits(v[23:25])
	if month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || hour > 23 || minute > 59 || sec > 59 ||
		day < 1 || day > daysIn(year, month) { // past the month's end: http.ParseTime refuses it
		return 0, false
	}
	return unixDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec), true
}

func isWeekday(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

// monthOf returns the number of the month named s, 0 for none.
func monthOf(s string) int {
	switch s {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// daysIn returns the number of days in month of year (Gregorian).
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// unixDays returns the days from 1970-01-01 to year-month-day (proleptic
// Gregorian, year 0 to 9999), as time.Date(...).Unix()/86400 would, in a
// fraction of its time: days before March first, so that February's length
// comes last in the year (H. Hinnant's days_from_civil).
func unixDays(year, month, day int) int64 {
	y := year + 400 // so that y-1 stays positive; 400 years are 146,097 days
	if month <= 2 {
		y--
	}
	era, yoe := y/400, y%400
	doy := (153*((month+9)%12)+2)/5 + day - 1 // day of the year from March 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy    // day of the 400-year era
	return int64((era-1)*146097+doe) - 719468 // 719,468: days from 0000-03-01 to 1970-01-01
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// checkDigest is Kong's validate_body, reading at most the route's
// MaxBodySize: a request without Digest must have no body; with one, it
// must match the body. With validate_request_body a body also needs a
// signed Digest (signed reports whether it is). The body is put back for
// the upstream.
func (a *Authenticator) checkDigest(r *fasthttp.Request, signed bool) (auth.Result, bool) {
	body, res, ok := a.readBody(r)
	if !ok {
		return res, false
	}
	if a.cfg.ValidateRequestBody && len(body) > 0 && !signed {
		return denied(msgNoKongDigest), false
	}
	v := headerValue(r, "Digest")
	if v == "" && !has(r, "Digest") {
		return denied(msgNotSame), len(body) == 0
	}
	ds, err := httpsig.ParseDigest(v)
	if err != nil || httpsig.CheckDigests(ds, body) != nil {
		return denied(msgNotSame), false
	}
	return auth.Result{}, true
}

// readBody reads the whole body, bounded by MaxBodySize, and puts the
// bytes read back into r (with their length, also for a body that came
// chunked) so that the upstream gets it intact.
func (a *Authenticator) readBody(r *fasthttp.Request) ([]byte, auth.Result, bool) {
	n := int64(r.Header.ContentLength())
	switch {
	case n == 0 || n < -1: // -2: neither Content-Length nor chunked
		return nil, auth.Result{}, true
	case n > a.maxBody:
		return nil, auth.Result{Verdict: auth.TooLarge, Message: msgTooLarge}, false
	case !r.IsBodyStream(): // read whole already
		if body := r.Body(); int64(len(body)) <= a.maxBody {
			return body, auth.Result{}, true
		}
		return nil, auth.Result{Verdict: auth.TooLarge, Message: msgTooLarge}, false
	}
	body, err := io.ReadAll(io.LimitReader(r.BodyStream(), a.maxBody+1))
	switch {
	case int64(len(body)) > a.maxBody:
		return nil, auth.Result{Verdict: auth.TooLarge, Message: msgTooLarge}, false
	case err != nil:
		// The client went away or sent a broken body: nothing to match.
		return nil, denied(msgNotSame), false
	}
	r.SetBodyRaw(body)
	r.Header.SetContentLength(len(body))
	return body, auth.Result{}, true
}

// grant records the signature as used, when replay protection is on, until
// its time (the signed date or created) falls out of the clock skew of
// every route that shares the guard, after which the time check refuses it
// anyway. A credential with too many signatures remembered is refused
// (ErrReplayQuota), so that one cannot fill the cache for all.
func (a *Authenticator) grant(ctx context.Context, cr credential, mac []byte, rk replayKey, at int64) (auth.Result, error) {
	if a.replay != nil {
		until := time.Unix(at+max(replayWindow.Load(), a.skew)+1, 0)
		var seen bool
		var err error
		if a.cache != nil {
			seen, err = a.cache.seenKey(cr.cred.Username, rk, until)
		} else {
			seen, err = a.replay.Seen(ctx, cr.cred.Username, string(mac), until)
		}
		switch {
		case errors.Is(err, ErrReplayQuota):
			return denied(msgTooMany), nil
		case err != nil:
			return auth.Result{}, keygate.Unavailable(err, "replay protection unavailable")
		case seen:
			return denied(msgReplayed), nil
		}
	}
	res := auth.Result{Verdict: auth.Granted, Consumer: cr.consumer, CredentialID: cr.cred.Username,
		CredentialRecord: cr.cred.ID, Lineage: cr.cred.ID, PlanID: keygate.PlanOf(nil, cr.consumer)}
	if cr.cred.ExpiresAt != nil {
		res.Sunset = *cr.cred.ExpiresAt // the proxy announces it near the end, as for keys
	}
	return res, nil
}

// authenticateRFC9421 verifies an RFC 9421 signature made with an HMAC
// credential: keyid is the username, alg hmac-sha256 (or absent).
func (a *Authenticator) authenticateRFC9421(ctx context.Context, r *fasthttp.Request) (auth.Result, error) {
	var inputBuf, sigLineBuf [4]string
	inputs, sigs := headerLines(inputBuf[:0], r, "Signature-Input"), headerLines(sigLineBuf[:0], r, "Signature")
	ins, err := httpsig.ParseSignatureInput(inputs)
	if err != nil {
		if a.cfg.HideCredentials {
			hideRFC9421(r, "")
		}
		return denied(msgNotValid), nil
	}
	// The first signature that could be ours; others (made with keys the
	// gateway does not hold, for the upstream) are left alone.
	i := slices.IndexFunc(ins, func(in *httpsig.SignatureInput) bool {
		return in.KeyID != "" && (in.Alg == "" || in.Alg == httpsig.AlgHMACSHA256)
	})
	if i < 0 {
		if slices.ContainsFunc(ins, func(in *httpsig.SignatureInput) bool { return in.KeyID != "" }) {
			return denied(msgAlgorithm), nil
		}
		return denied(msgNotValid), nil
	}
	in := ins[i]
	if a.cfg.HideCredentials {
		// Whatever the verdict, as with Kong's scheme, but once verified:
		// the signature may cover the other members of these fields.
		defer hideRFC9421(r, strings.Clone(in.Label)) // a view of a field it changes
	}
	return a.verifyRFC9421(ctx, r, in, sigs)
}

// verifyRFC9421 verifies the signature in, which r carries in sigs (apart,
// as verifyKong is).
func (a *Authenticator) verifyRFC9421(ctx context.Context, r *fasthttp.Request, in *httpsig.SignatureInput, sigs []string) (auth.Result, error) {
	now := a.now().Unix()
	switch {
	case !a.algs[httpsig.HMACSHA256]:
		return denied(msgAlgorithm), nil
	case !in.HasCreated || now-in.Created > a.skew || in.Created-now > a.skew:
		return denied(msgCreated), nil
	case in.HasExpires && now >= in.Expires:
		return denied(msgExpired), nil
	case !in.Covers("@method") || !in.Covers("@authority") || !coversTarget(in, r):
		return denied(msgCoverage), nil
	case len(in.KeyID) > maxUsername:
		return denied(msgNotValid), nil
	}
	for _, h := range a.cfg.EnforceHeaders {
		if !coversEnforced(in, r, h) {
			return denied(msgNotValid), nil
		}
	}
	digestCovered := in.Covers("content-digest")
	if a.cfg.ValidateRequestBody && !digestCovered && (has(r, "Content-Digest") || r.Header.ContentLength() > 0 || r.Header.ContentLength() == -1) {
		return denied(msgNoDigest), nil
	}
	var sigBuf, macBuf [64]byte
	sig, err := httpsig.AppendSignature(sigBuf[:0], sigs, in.Label)
	if err != nil {
		return denied(msgNotValid), nil
	}
	return a.checkRFC9421MAC(ctx, r, in, sig, a.replayKeyOf(sig), macBuf[:0], digestCovered)
}

// checkRFC9421MAC compares sig (rk for the replay cache) with the MAC of r
// under in, computed in dst, then checks the Content-Digest (apart, as
// verifyKong is).
func (a *Authenticator) checkRFC9421MAC(ctx context.Context, r *fasthttp.Request, in *httpsig.SignatureInput, sig []byte, rk replayKey, dst []byte, digestCovered bool) (auth.Result, error) {
	var keyBuf [httpsig.MaxPreparedKeySize]byte
	cr, key, err := a.creds.getPrepared(ctx, in.KeyID, httpsig.HMACSHA256, keyBuf[:0])
	defer clear(key)
	if err != nil {
		return auth.Result{}, err
	}
	if !cr.found {
		return denied(msgNotValid), nil
	}
	mac, err := in.AppendMACPrepared(dst, message{r}, key)
	if err != nil {
		return denied(msgNotValid), nil
	}
	if subtle.ConstantTimeCompare(mac, sig) != 1 {
		return denied(msgNotSame), nil
	}
	// A covered Content-Digest is checked whatever the route says (the
	// signer vouched for it); validate_request_body requires one for any
	// body.
	if digestCovered || a.cfg.ValidateRequestBody {
		body, res, ok := a.readBody(r)
		if !ok {
			return res, nil
		}
		if digestCovered {
			// Covered, so present: MAC fails on an absent component.
			var lineBuf [4]string
			ds, err := httpsig.ParseContentDigest(headerLines(lineBuf[:0], r, "Content-Digest"))
			if err != nil || httpsig.CheckDigests(ds, body) != nil {
				return denied(msgNotSame), nil
			}
		} else if len(body) > 0 {
			return denied(msgNoDigest), nil
		}
	}
	return a.grant(ctx, cr, mac, rk, in.Created)
}

// coversTarget reports whether the signature covers the whole request
// target: @target-uri or @request-target, or @path, with @query when the
// request has one. Clients (the npm http-message-signatures, most
// libraries' defaults) sign @path alone for a request without a query;
// such a signature cannot be moved to a request with a query, which must
// cover @query — not even an empty one ("/p?"), so that no query can be
// added to what was signed.
func coversTarget(in *httpsig.SignatureInput, r *fasthttp.Request) bool {
	if in.Covers("@target-uri") || in.Covers("@request-target") {
		return true
	}
	return in.Covers("@path") && (in.Covers("@query") || !hasQuery(r))
}

// hasQuery reports whether the request target has a query, empty or not.
func hasQuery(r *fasthttp.Request) bool {
	return strings.IndexByte(message{r}.RequestURI(), '?') >= 0
}

// hideRFC9421 removes the Signature-Input and Signature members labelled
// label (hide_credentials), leaving other signatures (for the upstream) as
// they were sent; a field left empty is removed. With label "" — the
// fields did not parse, so nothing in them can be verified downstream
// either — both fields are removed whole.
func hideRFC9421(r *fasthttp.Request, label string) {
	for _, name := range [...]string{"Signature-Input", "Signature"} {
		lines := headerLines(nil, r, name)
		if len(lines) == 0 {
			continue
		}
		v, ok := httpsig.RemoveSignature(lines, label)
		removeHeader(r, name)
		if label != "" && ok && v != "" {
			r.Header.Set(name, v)
		}
	}
}

// coversEnforced maps an enforced Kong header onto RFC 9421 components:
// the pseudo-headers onto the request target, host onto @authority.
func coversEnforced(in *httpsig.SignatureInput, r *fasthttp.Request, name string) bool {
	switch n := strings.ToLower(name); n {
	case "request-line", "@request-target":
		return coversTarget(in, r)
	case "host":
		return in.Covers("host") || in.Covers("@authority")
	default:
		return in.Covers(strings.ReplaceAll(n, "_", "-"))
	}
}

// headerValue is a header's field lines joined by ", ", as nginx gives
// them to Kong. name is canonical, as the request's are. A single line is
// a view of the request's memory (str), valid until its headers change.
func headerValue(r *fasthttp.Request, name string) string {
	switch vs := r.Header.PeekAll(name); len(vs) {
	case 0:
		return ""
	case 1:
		return str(vs[0])
	default:
		return string(bytes.Join(vs, []byte(", ")))
	}
}

// headerLines appends a header's field lines, in order, to dst, as views
// of the request's memory (str), valid until its headers change.
func headerLines(dst []string, r *fasthttp.Request, name string) []string {
	for _, v := range r.Header.PeekAll(name) {
		dst = append(dst, str(v))
	}
	return dst
}

func has(r *fasthttp.Request, name string) bool { return len(r.Header.PeekAll(name)) > 0 }

// removeHeader removes every line of header name, keeping the others in order.
func removeHeader(r *fasthttp.Request, name string) {
	auth.RemoveHeaders(&r.Header, func(n []byte) bool { return string(n) == name })
}

func absent(msg string) auth.Result { return auth.Result{Verdict: auth.Absent, Message: msg} }
func denied(msg string) auth.Result { return auth.Result{Verdict: auth.Unauthenticated, Message: msg} }
