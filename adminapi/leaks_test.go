package adminapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/apikey"
)

// A leaked key reported by a secret scanning service (GitHub's partner
// format, signed) is revoked at once; made-up or foreign tokens are not.
func TestLeakReports(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	leaked := createKey(t, e, "alice")
	other := createKey(t, e, "alice")

	signer, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]string{{
		"key_identifier": "gh-1", "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	keys, err := adminapi.ParseLeakReportKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	e.Server.LeakReportKeys = keys

	// A well-formed key with another key's identifier and a made-up secret.
	body0 := other.Key[:strings.LastIndexByte(other.Key, '_')]
	body0 = body0[:len(body0)-32] + strings.Repeat("A", 32)
	forged := body0 + "_" + apikey.Checksum(body0)
	body := fmt.Sprintf(`[{"token":%q,"type":"keygate_api_key","url":"https://github.com/x/y/blob/main/.env","source":"content"},
		{"token":"ghp_notours","type":"keygate_api_key","url":"u","source":"content"},
		{"token":%q,"type":"keygate_api_key","url":"u","source":"content"}]`, leaked.Key, forged)
	sign := func(body string) map[string]string {
		digest := sha256.Sum256([]byte(body))
		sig, _ := ecdsa.SignASN1(rand.Reader, signer, digest[:])
		return map[string]string{"Authorization": "", "Github-Public-Key-Identifier": "gh-1",
			"Github-Public-Key-Signature": base64.StdEncoding.EncodeToString(sig)}
	}

	r := request(t, e, "POST", "/v1/leaks", body, sign(body))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var results []adminapi.LeakResult
	json.Unmarshal([]byte(r.body), &results)
	got := []string{}
	for _, res := range results {
		got = append(got, res.Label+"/"+res.Action)
	}
	if strings.Join(got, " ") != "true_positive/revoked false_positive/not_a_key false_positive/unknown_key" || results[0].KeyID != leaked.ID {
		t.Fatalf("results %s", r.body)
	}
	if strings.Contains(r.body, leaked.Key) {
		t.Error("the response echoes the token")
	}
	if k, _ := e.Client.Key(t.Context(), leaked.ID); k.Status != keygate.KeyRevoked {
		t.Errorf("leaked key is %s", k.Status)
	}
	if k, _ := e.Client.Key(t.Context(), other.ID); k.Status != keygate.KeyActive {
		t.Errorf("a forged report revoked another key: %s", k.Status)
	}
	if res, _ := e.Client.VerifyKey(t.Context(), keygate.VerifyRequest{Key: leaked.Key}); res.Code != keygate.CodeRevoked {
		t.Errorf("the leaked key verifies as %s", res.Code)
	}

	again := request(t, e, "POST", "/v1/leaks", body, sign(body))
	if !strings.Contains(again.body, "already_revoked") {
		t.Errorf("reported twice: %s", again.body)
	}

	refused := []struct {
		name string
		hdr  map[string]string
	}{
		{"no token, no signature", map[string]string{"Authorization": ""}},
		{"signature over another body", sign(body + " ")},
		{"unknown signing key", map[string]string{"Authorization": "", "Github-Public-Key-Identifier": "gh-2", "Github-Public-Key-Signature": sign(body)["Github-Public-Key-Signature"]}},
		{"signature not base64", map[string]string{"Authorization": "", "Github-Public-Key-Identifier": "gh-1", "Github-Public-Key-Signature": "%%%"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if r := request(t, e, "POST", "/v1/leaks", body, tt.hdr); r.status != 401 {
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("an admin may report without a signature", func(t *testing.T) {
		if r := request(t, e, "POST", "/v1/leaks", `[{"token":"x","type":"t","url":"u","source":"s"}]`, nil); r.status != 200 {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("malformed reports", func(t *testing.T) {
		for _, b := range []string{`{}`, `[{"token":1}]`, `[{"tokn":"x"}]`} {
			if r := request(t, e, "POST", "/v1/leaks", b, nil); r.status != 400 {
				t.Errorf("%s: %d %s", b, r.status, r.body)
			}
		}
	})
}

func createKey(tb testing.TB, e *adminapitest.Env, consumer string) *keygate.IssuedKey {
	tb.Helper()
	k, err := e.Client.CreateKey(tb.Context(), consumer, keygate.KeyRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Whoever holds a leaked key may have rotated it to a key of their own: a
// report revokes the successors too, and the audit trail says why, cleanly.
func TestLeakRevokesSuccessors(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	leaked := createKey(t, e, "alice")
	rot, err := e.Client.RotateKey(t.Context(), leaked.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[{"token":%q,"type":"t","url":"https://x.example/\u001b[2Jfake\nline","source":"s"}]`, leaked.Key)
	r := request(t, e, "POST", "/v1/leaks", body, nil)
	var results []adminapi.LeakResult
	json.Unmarshal([]byte(r.body), &results)
	if len(results) != 1 || results[0].Action != "revoked" || len(results[0].AlsoRevoked) != 1 || results[0].AlsoRevoked[0] != rot.Key.ID {
		t.Fatalf("%s", r.body)
	}
	if k, _ := e.Client.Key(t.Context(), rot.Key.ID); k.Status != keygate.KeyRevoked {
		t.Errorf("the successor is %s", k.Status)
	}
	events, _, err := e.Store.ListAudit(t.Context(), keygate.AuditFilter{Action: "key.revoked"}, keygate.Page{Limit: 10})
	if err != nil || len(events) != 2 {
		t.Fatalf("audit %+v %v", events, err)
	}
	for _, ev := range events {
		if strings.ContainsAny(ev.Reason, "\n\x1b") {
			t.Errorf("a control character reached the audit trail: %q", ev.Reason)
		}
	}
}
