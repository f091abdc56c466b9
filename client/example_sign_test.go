package client_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/client"
)

// A Go caller signs its requests by giving its http.Client a Signer. Here
// the server checks them with the gateway's own hmac-auth.
func ExampleSigner() {
	// The server: hmac-auth with Kong's defaults plus body validation.
	cfg := keygate.NewHMACAuthConfig()
	cfg.ValidateRequestBody = true
	creds := hmacauth.NewCredentials(credentialStore{"acme-signer", "s3cr3t"}, openSealed, hmacauth.Options{})
	verifier := hmacauth.New(*cfg, creds, hmacauth.NewReplayCache(hmacauth.ReplayOptions{}), nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := verifier.Authenticate(r, keygate.Target{})
		if err != nil || res.Verdict != auth.Granted {
			http.Error(w, res.Message, http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "hello %s, got %s", res.Consumer.Username, body)
	}))
	defer srv.Close()

	// The client: one line.
	hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme, client.WithBodyDigest(0))}

	resp, err := hc.Post(srv.URL+"/v1/payments", "application/json", strings.NewReader(`{"amount": 100}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(b))
	// Output: 200 OK hello acme, got {"amount": 100}
}
