package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/sessioncrypto"
)

// A client of a route whose payload_encryption is dynamic starts a session
// (the handshake) and then uses an ordinary *http.Client: the session seals
// each body for the gateway and opens each answer. The upstream service
// behind the gateway sees plain JSON and needs no crypto code.
func ExampleStartSession() {
	gateway := standInGateway()
	defer gateway.Close()

	s, err := client.StartSession(context.Background(), client.SessionOptions{
		Gateway: gateway.URL,
		Path:    "/orders", // a request path on the route
		Authorize: func(r *http.Request) error {
			r.Header.Set("apikey", "kg_live_...") // the route's credential, on every request
			return nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(context.Background()) // logout: the session key stops working on every node

	res, err := s.Client().Post(gateway.URL+"/orders", "application/json", strings.NewReader(`{"item":"book"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	fmt.Println(res.Header.Get("Content-Type"), string(answer))
	// Output: application/json {"ordered":{"item":"book"}}
}

// standInGateway plays the gateway's part with package sessioncrypto, as
// keygate's proxy does: the handshake wraps a new session key to the
// client's public key; a request's envelope is opened, and the answer sealed.
func standInGateway() *httptest.Server {
	const sessionID = "0195a3c2-0000-7000-8000-0000000000aa"
	material := sessioncrypto.GenerateKey()
	key, _ := sessioncrypto.NewKey(material)
	var window sessioncrypto.Window
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == sessioncrypto.DefaultSessionPath && r.Method == http.MethodPost:
			var req sessioncrypto.HandshakeRequest
			json.Unmarshal(body, &req)
			pub, err := sessioncrypto.ParsePublicKey(req.KeyType, req.PublicKey)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			wrapped, _ := pub.Wrap(sessionID, material)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(sessioncrypto.HandshakeResponse{Session: sessionID, Mode: "dynamic", KeyType: pub.Type(),
				ExpiresAt: time.Now().Add(time.Hour), WrappedKey: base64.StdEncoding.EncodeToString(wrapped), EnvelopeVersion: sessioncrypto.Version})
		case r.URL.Path == sessioncrypto.DefaultSessionPath && r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			plain, seq, err := key.OpenRequest(nil, r.Header.Get(sessioncrypto.HeaderSession), r.Method, r.URL.Path, body)
			if err != nil || !window.Accept(seq) {
				http.Error(w, `{"message":"refused"}`, http.StatusBadRequest)
				return
			}
			// What the upstream answers to the plain request.
			answer := fmt.Appendf(nil, `{"ordered":%s}`, plain)
			env, _ := key.SealResponse(nil, sessionID, seq, r.Method, r.URL.Path, answer)
			w.Header().Set(sessioncrypto.HeaderContentType, "application/json")
			w.Header().Set("Content-Type", sessioncrypto.EnvelopeMediaType)
			w.Write(env)
		}
	}))
}
