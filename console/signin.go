package console

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// signinData is what the sign-in page shows.
type signinData struct {
	SSO     bool
	Local   bool
	Token   string // the local form's CSRF token
	Name    string
	Message string
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) error {
	if sess, err := s.currentSession(r); err == nil && sess != nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return nil
	}
	return s.renderSignin(w, r, http.StatusOK, "", "")
}

// renderSignin shows the sign-in page with a fresh token for the local
// form: a double-submit cookie, so that another site cannot sign a browser
// in to an account of its choosing (login CSRF).
func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, st int, name, message string) error {
	d := signinData{SSO: s.oidc != nil, Local: len(s.accounts) > 0, Name: name, Message: message}
	if d.Local {
		d.Token = rand.Text()
		s.setCookie(w, r, signinCookie, d.Token, 30*time.Minute)
	}
	return s.render(w, r, st, "signin", nil, "Sign in", d)
}

// dummyHash keeps a sign-in with an unknown name as slow as one with a
// wrong password, so timing does not tell which names exist: a hash of
// nothing anyone knows, with the costs of one of the accounts (they share
// them unless the file was written with different settings).
func (s *Server) dummyHash() string {
	s.dummyOnce.Do(func() {
		p := DefaultArgon2
		for _, a := range s.accounts {
			p, _, _, _ = parsePHC(a.Hash)
			break
		}
		s.dummy, _ = HashPassword(rand.Text(), p)
	})
	return s.dummy
}

func (s *Server) signinLocal(w http.ResponseWriter, r *http.Request) error {
	if len(s.accounts) == 0 {
		return s.renderSignin(w, r, http.StatusNotFound, "", "Local accounts are not enabled on this keygate.")
	}
	c, err := r.Cookie(signinCookie)
	want := ""
	if err == nil {
		want = c.Value
	}
	if err := s.checkPost(r, want); err != nil {
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
	// Too many failures for this name or from this address: refused
	// without a check, so guessing online stops (429, not 401: the
	// password was not even tried).
	nameKey, remoteKey := "name:"+strings.ToLower(name), "remote:"+remoteHost(r)
	now := s.cfg.Now()
	for _, k := range []struct {
		key   string
		limit int
	}{{nameKey, signinNameLimit}, {remoteKey, signinRemoteLimit}} {
		if n, until := s.failures.count(k.key, now); n >= k.limit {
			// The name is not logged: a password typed into the name field would be.
			kind, _, _ := strings.Cut(k.key, ":")
			s.cfg.Logger.Warn("console: sign-in refused", "method", "local", "reason", "too many failed sign-ins for this "+kind)
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
	ok := checkPassword(hash, password)
	<-s.hashing
	if !known || !ok {
		s.failures.fail(nameKey, now)
		s.failures.fail(remoteKey, now)
		s.cfg.Logger.Warn("console: sign-in refused", "method", "local", "reason", "wrong name or password")
		return s.renderSignin(w, r, http.StatusUnauthorized, name, "Wrong name or password.")
	}
	s.failures.clear(nameKey)
	s.setCookie(w, r, signinCookie, "", 0)
	return s.startSession(w, r, a.Name, a.Role, "local")
}

// signout ends the session. It needs the session's CSRF token, so another
// site cannot sign a user out; with no session it just goes to sign in.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.currentSession(r)
	if err != nil {
		return err
	}
	if sess != nil {
		if err := s.checkPost(r, sess.csrf); err != nil {
			return err
		}
		if err := s.cfg.Store.DeleteConsoleSession(r.Context(), sess.TokenHash); err != nil {
			return err
		}
	}
	s.setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
	return nil
}

// remoteHost is the client's address as this listener sees it (a proxy in
// front of keygate makes it the proxy's: the per-name limit still holds).
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
