package client_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// A service outside the gateway checks its callers' keys with the verify
// API, with an admin token of the verifier role: the middleware refuses
// what the gateway would, and hands the handler the verified caller.
func ExampleMiddleware() {
	// Stands in for keygate's admin API: kg_test_good is a valid key of
	// consumer acme, any other is unknown.
	keygateAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req keygate.VerifyRequest
		json.NewDecoder(r.Body).Decode(&req)
		ans := keygate.VerifyResponse{Code: keygate.CodeNotFound}
		if req.Key == "kg_test_good" {
			ans = keygate.VerifyResponse{Valid: true, Code: keygate.CodeValid, KeyID: "k1",
				Consumer: &keygate.VerifiedCaller{ID: "c1", Username: "acme"}}
		}
		json.NewEncoder(w).Encode(ans)
	}))
	defer keygateAPI.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /documents", func(w http.ResponseWriter, r *http.Request) {
		caller := client.VerificationFrom(r.Context()).Consumer
		fmt.Fprintf(w, "documents of %s", caller.Username)
	})
	verifier := client.New(keygateAPI.URL, "verifier-token")
	service := httptest.NewServer(client.Middleware(client.MiddlewareConfig{Client: verifier, Service: "documents"})(mux))
	defer service.Close()

	for _, key := range []string{"kg_test_good", "kg_test_bad", ""} {
		req, _ := http.NewRequest("GET", service.URL+"/documents", nil)
		if key != "" {
			req.Header.Set("apikey", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var body struct{ Message string }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if json.Unmarshal(b, &body) == nil {
			b = []byte(body.Message)
		}
		fmt.Println(resp.StatusCode, string(b))
	}
	// Output:
	// 200 documents of acme
	// 401 Unauthorized
	// 401 No API key found in request
}
