package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/keygate/keygate"
)

// TokenHash is the stored form of a session token: the store holds only
// this, so reading it never yields a session anyone could use.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CSRFToken is a session's synchronizer token: derived from the session
// token, which only the browser's HttpOnly cookie holds, so a page of
// another origin can neither read nor compute it. label separates the
// console's tokens from the portal's.
func CSRFToken(token, label string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// MaxForm bounds a form post.
const MaxForm = 64 << 10

// CheckPost refuses a post from another origin or without the expected
// CSRF token (the form field "csrf"), and parses the form.
func CheckPost(r *http.Request, want string) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return keygate.Errorf(keygate.EFORBIDDEN, "This form was sent from another site (%s) and is refused.", o)
		}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, MaxForm)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return keygate.Errorf(keygate.ETOOLARGE, "The form is larger than %d bytes.", MaxForm)
		}
		return keygate.Errorf(keygate.EINVALID, "The form could not be read.")
	}
	got := r.PostForm.Get("csrf")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return keygate.Errorf(keygate.EFORBIDDEN, "The form's security token is missing or wrong (a stale page, or a forged request). Reload the page and try again.")
	}
	return nil
}

// Status maps an error code to an HTTP status.
func Status(code string) int {
	switch code {
	case keygate.EINVALID:
		return http.StatusBadRequest
	case keygate.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case keygate.EFORBIDDEN:
		return http.StatusForbidden
	case keygate.ENOTFOUND:
		return http.StatusNotFound
	case keygate.ECONFLICT:
		return http.StatusConflict
	case keygate.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case keygate.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
