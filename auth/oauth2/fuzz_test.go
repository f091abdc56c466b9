package oauth2_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
)

// FuzzAuthenticate: whatever the Authorization header holds, the
// authenticator neither panics nor grants, and never quotes it back.
func FuzzAuthenticate(f *testing.F) {
	w := newWorld(f)
	a := w.authenticator(f, nil)
	tok := w.token(f)
	f.Add("Bearer " + tok)
	f.Add("Bearer " + tok[:len(tok)-3])
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.")
	f.Add("Bearer a.b.c")
	f.Add("bearer ..")
	f.Fuzz(func(t *testing.T, header string) {
		if header == "Bearer "+tok || strings.TrimSpace(header) == "Bearer "+tok {
			return
		}
		r := request("GET")
		r.Header.Set("Authorization", header)
		res, err := a.Authenticate(context.Background(), r, keygate.Target{})
		if err != nil {
			t.Fatalf("error for a bad token: %v", err)
		}
		if res.Verdict == auth.Granted {
			value := strings.TrimSpace(string(r.Header.Peek("Authorization")))
			if strings.HasSuffix(value, tok) {
				return // the valid token, in another spelling of the scheme
			}
			t.Fatalf("granted %q", header)
		}
		if len(header) > 24 && strings.Contains(res.Message+res.WWWAuthenticate, header[len(header)-16:]) {
			t.Fatalf("the refusal quotes the header")
		}
	})
}
