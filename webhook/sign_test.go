package webhook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/webhook"
)

func TestVerify(t *testing.T) {
	const secret = "whsec_TESTSECRET"
	body := []byte(`{"id":"e1","type":"key.created"}`)
	at := time.Unix(1_900_000_000, 0)
	sig := webhook.Sign([]byte(secret), at, body)
	v1 := strings.TrimPrefix(sig, "t=1900000000,")
	other := webhook.Sign([]byte("whsec_OTHER"), at, body)
	otherV1 := strings.TrimPrefix(other, "t=1900000000,")

	tests := []struct {
		name      string
		header    string
		body      string
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"valid", sig, string(body), 0, at, nil},
		{"spaces after commas", "t=1900000000, " + v1, string(body), 0, at, nil},
		{"within the default tolerance, late", sig, string(body), 0, at.Add(5 * time.Minute), nil},
		{"within the default tolerance, early", sig, string(body), 0, at.Add(-5 * time.Minute), nil},
		{"too late", sig, string(body), 0, at.Add(5*time.Minute + time.Second), webhook.ErrTimestamp},
		{"too early", sig, string(body), 0, at.Add(-5*time.Minute - time.Second), webhook.ErrTimestamp},
		{"a wider tolerance", sig, string(body), time.Hour, at.Add(59 * time.Minute), nil},
		{"a narrower tolerance", sig, string(body), time.Second, at.Add(2 * time.Second), webhook.ErrTimestamp},
		{"one of several v1 matches", "t=1900000000," + otherV1 + "," + v1, string(body), 0, at, nil},
		{"unknown schemes are ignored", "t=1900000000,v0=abc," + v1 + ",v2=xyz", string(body), 0, at, nil},
		{"another secret", other, string(body), 0, at, webhook.ErrBadSignature},
		{"another body", sig, string(body) + " ", 0, at, webhook.ErrBadSignature},
		{"another timestamp", "t=1900000001," + v1, string(body), 0, at, webhook.ErrBadSignature},
		{"no header", "", string(body), 0, at, webhook.ErrNoSignature},
		{"no timestamp", v1, string(body), 0, at, webhook.ErrBadHeader},
		{"no v1", "t=1900000000", string(body), 0, at, webhook.ErrBadHeader},
		{"only another scheme", "t=1900000000,v2=" + strings.Repeat("ab", 32), string(body), 0, at, webhook.ErrBadHeader},
		{"two timestamps", "t=1900000000,t=1900000000," + v1, string(body), 0, at, webhook.ErrBadHeader},
		{"timestamp not a number", "t=soon," + v1, string(body), 0, at, webhook.ErrBadHeader},
		{"v1 not hex", "t=1900000000,v1=" + strings.Repeat("zz", 32), string(body), 0, at, webhook.ErrBadHeader},
		{"v1 too short", "t=1900000000,v1=abcd", string(body), 0, at, webhook.ErrBadHeader},
		{"a part without =", "t=1900000000,garbage," + v1, string(body), 0, at, webhook.ErrBadHeader},
		{"too long", sig + strings.Repeat(",x=y", 2000), string(body), 0, at, webhook.ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := webhook.Verify(secret, tt.header, []byte(tt.body), tt.tolerance, tt.now); err != tt.want {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// The format is part of the API: receivers in every language implement it.
func TestSignGolden(t *testing.T) {
	got := webhook.Sign([]byte("whsec_TESTSECRET"), time.Unix(1_900_000_000, 0), []byte(`{"id":"e1"}`))
	// printf '1900000000.{"id":"e1"}' | openssl dgst -sha256 -hmac whsec_TESTSECRET
	const want = "t=1900000000,v1=6af5fda228868747df9d906310db59d27d4f9b761715b52eb9a0611b58ce69c5"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"e1"}`)
	at := time.Unix(1_900_000_000, 0)
	f.Add(webhook.Sign([]byte("s"), at, body), body)
	f.Add("t=1,v1=00", []byte{})
	f.Add(",,,=,=", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := webhook.Verify("s", header, body, 0, at)
		if err == nil && webhook.Sign([]byte("s"), at, body) != header && !strings.Contains(header, ",") {
			t.Errorf("Verify accepted %q", header)
		}
	})
}
