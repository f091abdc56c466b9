package web

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
)

// Secure sets the headers every answer of a web app carries — its
// Content-Security-Policy, no framing, no type sniffing, no referrer, a
// browsing context of its own — and Cache-Control no-store on everything
// but the static files under staticPrefix (the pages show credentials, one
// a secret). A panic in next becomes fail's answer rather than a dropped
// connection (http.ErrAbortHandler still aborts).
func Secure(next http.Handler, csp, staticPrefix string, fail func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, staticPrefix) {
			h.Set("Cache-Control", "no-store")
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				fail(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
