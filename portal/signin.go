package portal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/web"
)

// Failed local sign-ins allowed per window, per account name and per client
// address.
const (
	signinWindow      = 15 * time.Minute
	signinNameLimit   = 10
	signinRemoteLimit = 50
)

type signinData struct {
	SSO     bool
	Local   bool
	Token   string
	Name    string
	Message string
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) error {
	if sess, err := s.currentSession(r); err == nil && sess != nil {
		http.Redirect(w, r, "/portal/", http.StatusSeeOther)
		return nil
	}
	return s.renderSignin(w, r, http.StatusOK, "", "")
}

// renderSignin shows the sign-in page with a fresh double-submit token for
// the local form, so that another site cannot sign a browser in to an
// account of its choosing.
func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, st int, name, message string) error {
	d := signinData{SSO: s.oidc != nil, Local: len(s.accounts) > 0, Name: name, Message: message}
	if d.Local {
		d.Token = rand.Text()
		s.setCookie(w, r, signinCookie, d.Token, 30*time.Minute)
	}
	return s.render(w, r, st, "signin", nil, "Sign in", d)
}

// dummyHash keeps a sign-in with an unknown name as slow as one with a wrong
// password.
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		p := web.DefaultArgon2
		for _, a := range s.accounts {
			p, _, _, _ = web.ParsePHC(a.Hash)
			break
		}
		s.dummy, _ = web.HashPassword(rand.Text(), p)
	})
	return s.dummy
}

func (s *Server) signinLocal(w http.ResponseWriter, r *http.Request) error {
	if len(s.accounts) == 0 {
		return s.renderSignin(w, r, http.StatusNotFound, "", "Local accounts are not enabled on this portal.")
	}
	want := ""
	if c, err := r.Cookie(signinCookie); err == nil {
		want = c.Value
	}
	if err := web.CheckPost(r, want); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	password := r.PostForm.Get("password")
	if name == "" || password == "" {
		return s.renderSignin(w, r, http.StatusBadRequest, name, "Enter your name and password.")
	}
	if len(name) > 200 || len(password) > 1024 {
		return s.renderSignin(w, r, http.StatusBadRequest, "", "Name or password too long.")
	}
	nameKey, remoteKey := "portal-name:"+strings.ToLower(name), "portal-remote:"+remoteHost(r)
	now := s.cfg.Now()
	for _, k := range []struct {
		key   string
		limit int
	}{{nameKey, signinNameLimit}, {remoteKey, signinRemoteLimit}} {
		if n, until := s.failures.Count(k.key, now); n >= k.limit {
			s.cfg.Logger.Warn("portal: sign-in refused", "method", "local", "reason", "too many failed sign-ins")
			return s.renderSignin(w, r, http.StatusTooManyRequests, name,
				fmt.Sprintf("Too many failed sign-ins. Try again after %s.", until.UTC().Format("15:04 UTC")))
		}
	}
	a, known := s.accounts[strings.ToLower(name)]
	hash := a.Hash
	if !known {
		hash = s.dummyHash()
	}
	select {
	case s.hashing <- struct{}{}:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	ok := web.CheckPassword(hash, password)
	<-s.hashing
	if !known || !ok {
		s.failures.Fail(nameKey, now)
		s.failures.Fail(remoteKey, now)
		s.cfg.Logger.Warn("portal: sign-in refused", "method", "local", "reason", "wrong name or password")
		return s.renderSignin(w, r, http.StatusUnauthorized, name, "Wrong name or password.")
	}
	s.failures.Clear(nameKey)
	ids, err := s.resolveConsumers(r.Context(), a.Consumers)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return s.renderSignin(w, r, http.StatusForbidden, name, "Your account acts for no application that exists yet; ask the platform team.")
	}
	s.setCookie(w, r, signinCookie, "", 0)
	return s.startSession(w, r, a.Name, "local", ids)
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Single sign-on is not configured on this portal.")
	}
	u, cookie, err := s.oidc.Start(r.Context())
	if err != nil {
		return err
	}
	s.setCookie(w, r, oidcCookie, cookie, 10*time.Minute)
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

// oidcCallback completes an OIDC sign-in; the consumer claim's values map
// to the consumers the user acts for.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) error {
	if s.oidc == nil {
		return keygate.Errorf(keygate.ENOTFOUND, "Single sign-on is not configured on this portal.")
	}
	refuse := func(msg string) error {
		s.cfg.Logger.Warn("portal: sign-in refused", "method", "oidc", "reason", msg)
		return s.renderSignin(w, r, http.StatusUnauthorized, "", msg)
	}
	c, err := r.Cookie(oidcCookie)
	s.setCookie(w, r, oidcCookie, "", 0) // one try per start
	if err != nil {
		return refuse("The sign-in took too long or was started in another browser; start again.")
	}
	email, claims, err := s.oidc.Finish(r, c.Value)
	if ref, ok := errors.AsType[*web.Refused](err); ok {
		if ref.Cause != nil {
			s.cfg.Logger.Warn("portal: oidc sign-in failed", "err", ref.Cause)
		}
		return refuse(ref.Message)
	} else if err != nil {
		return err
	}
	var refs []string
	for _, v := range web.ClaimValues(claims, s.cfg.OIDC.ConsumerClaim) {
		refs = append(refs, s.cfg.OIDC.Consumers[v]...)
	}
	ids, err := s.resolveConsumers(r.Context(), refs)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return refuse(fmt.Sprintf("Your account (%s) acts for no application: none of its %s is mapped to a consumer.", email, s.cfg.OIDC.ConsumerClaim))
	}
	return s.startSession(w, r, email, "oidc", ids)
}

// signout ends the session; it needs the session's CSRF token.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.currentSession(r)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := web.CheckPost(r, sess.csrf); err != nil {
			return err
		}
		if err := s.cfg.Store.DeleteConsoleSession(r.Context(), sess.TokenHash); err != nil {
			return err
		}
	}
	s.setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
	return nil
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
