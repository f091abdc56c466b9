package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/hmacauth"
	"github.com/keygate/keygate/client"
	"github.com/valyala/fasthttp"
)

// A Go caller signs its requests by giving its http.Client a Signer. Here
// the server checks them with the gateway's own hmac-auth.
func ExampleSigner() {
	// The server: hmac-auth with Kong's defaults plus body validation.
	cfg := keygate.NewHMACAuthConfig()
	cfg.ValidateRequestBody = true
	creds := hmacauth.NewCredentials(credentialStore{"acme-signer", "s3cr3t"}, openSealed, hmacauth.Options{})
	verifier := hmacauth.New(*cfg, creds, hmacauth.NewReplayCache(hmacauth.ReplayOptions{}), nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		res, err := verifier.Authenticate(context.Background(), &ctx.Request, keygate.Target{})
		if err != nil || res.Verdict != auth.Granted {
			ctx.Error(res.Message, fasthttp.StatusUnauthorized)
			return
		}
		fmt.Fprintf(ctx, "hello %s, got %s", res.Consumer.Username, ctx.Request.Body())
	}}
	go srv.Serve(ln)
	defer srv.Shutdown()

	// The client: one line.
	hc := &http.Client{Transport: client.NewSigner("acme-signer", []byte("s3cr3t"), client.KongScheme, client.WithBodyDigest(0))}

	resp, err := hc.Post("http://"+ln.Addr().String()+"/v1/payments", "application/json", strings.NewReader(`{"amount": 100}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(b))
	// Output: 200 OK hello acme, got {"amount": 100}
}
