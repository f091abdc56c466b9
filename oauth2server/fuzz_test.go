package oauth2server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keygate/keygate/accesstoken"
)

// FuzzEndpoints sends arbitrary form bodies and Authorization headers to
// the token, introspection and revocation endpoints: every answer is JSON,
// a refusal is a 4xx with an RFC 6749 error code, never a 5xx, and no
// answer repeats the secret.
func FuzzEndpoints(f *testing.F) {
	e := newEnv(f)
	id, secret := e.client(f, "ci", nil)
	f.Add(0, "grant_type=client_credentials&scope=orders%3Aread", "Basic a2djX2NpOnNlY3JldC1vZi1jaQ==")
	f.Add(0, "grant_type=client_credentials&client_id="+id+"&client_secret="+secret, "")
	f.Add(1, "token=x.y.z", "Basic a2djX2NpOnNlY3JldC1vZi1jaQ==")
	f.Add(2, "token=eyJhbGciOiJub25lIn0.e30.", "Basic %%")
	f.Add(0, "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", "")
	f.Add(0, "scope=%22&grant_type=a&grant_type=b", "Bearer x")
	paths := []string{accesstoken.TokenPath, accesstoken.IntrospectionPath, accesstoken.RevocationPath}
	f.Fuzz(func(t *testing.T, which int, body, authz string) {
		path := paths[uint(which)%uint(len(paths))]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header["Authorization"] = []string{authz}
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		var answer map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s: %d, not JSON: %q", path, w.Code, w.Body)
		}
		switch {
		case w.Code >= 500:
			t.Fatalf("%s: %d %v", path, w.Code, answer)
		case w.Code >= 400 && answer["error"] == nil:
			t.Fatalf("%s: %d without an error code: %v", path, w.Code, answer)
		case strings.Contains(w.Body.String(), secret):
			t.Fatalf("%s: the answer repeats the secret", path)
		}
	})
}
