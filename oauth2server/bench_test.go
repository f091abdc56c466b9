package oauth2server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/accesstoken"
)

// BenchmarkTokenEndpoint is one client_secret_basic token request through
// the handler: form, client lookup (SQLite), secret hash, ES256 signature.
func BenchmarkTokenEndpoint(b *testing.B) {
	e := newEnv(b)
	id, secret := e.client(b, "ci", nil)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, accesstoken.TokenPath, strings.NewReader("grant_type=client_credentials&scope=orders%3Aread"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
