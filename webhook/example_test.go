package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/keygate/keygate/webhook"
)

// A receiver checks the signature over the raw body before it trusts
// anything in it, and answers 2xx quickly (keygate waits at most 10 seconds
// and retries anything else). The secret is the one shown when the webhook
// was created.
func ExampleVerify() {
	secret := "whsec_K4KMDM3OS3YFQEUBZ2ULGFQMZKT2T5SB7X4E3GH5GTO4CRDLOOE"

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := webhook.Verify(secret, r.Header.Get("Keygate-Signature"), body, webhook.DefaultTolerance, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var event struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// Deliveries come at least once: skip an event.ID seen before.
		fmt.Println("received", event.Type, event.Data["key_id"])
		w.WriteHeader(http.StatusNoContent)
	})

	// What keygate sends:
	body := `{"id":"0195a3c2-0000-7000-8000-000000000001","type":"key.rotated","created_at":"2030-01-01T00:00:00Z","data":{"key_id":"k1"}}`
	req := httptest.NewRequest(http.MethodPost, "/keygate-events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Keygate-Event-Type", "key.rotated")
	req.Header.Set("Keygate-Signature", webhook.Sign([]byte(secret), time.Now(), []byte(body)))
	rec := httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// The same body with another signature is refused.
	req = httptest.NewRequest(http.MethodPost, "/keygate-events", strings.NewReader(body))
	req.Header.Set("Keygate-Signature", webhook.Sign([]byte("whsec_GUESSED"), time.Now(), []byte(body)))
	rec = httptest.NewRecorder()
	receiver.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// received key.rotated k1
	// 204
	// 400
}
