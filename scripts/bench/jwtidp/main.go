// Command jwtidp is a stand-in identity provider for benchmarks: it makes
// an ES256 key, serves its JWKS on 127.0.0.1, and prints one access token
// (RFC 9068) signed with it, for wrk to send over and over.
//
//	jwtidp -listen 127.0.0.1:0 -issuer https://bench.idp -audience bench-api -sub bench -scope bench
//
// It prints "jwks <url>" and "token <jwt>" on two lines, then serves until
// it is stopped. Only for loopback: it refuses any other address.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve the JWKS on (loopback only)")
	issuer := flag.String("issuer", "https://bench.idp", "iss of the token")
	audience := flag.String("audience", "bench-api", "aud of the token")
	sub := flag.String("sub", "bench", "sub of the token")
	clientID := flag.String("client-id", "bench", "client_id of the token")
	scope := flag.String("scope", "bench", "scope of the token")
	lifetime := flag.Duration("lifetime", 2*time.Hour, "token lifetime")
	flag.Parse()

	host, _, err := net.SplitHostPort(*listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("jwtidp: -listen must be a loopback address")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	const kid = "bench-1"
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": *issuer, "sub": *sub, "aud": *audience, "iat": now.Unix(),
		"exp": now.Add(*lifetime).Unix(), "jti": "bench-token", "client_id": *clientID, "scope": *scope})
	jws, err := signer.Sign(payload)
	if err != nil {
		log.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("jwks http://%s/jwks\ntoken %s\n", ln.Addr(), token)
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(jwks)
	})))
}
