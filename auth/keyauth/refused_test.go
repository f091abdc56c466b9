package keyauth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auth"
	"github.com/keygate/keygate/auth/keyauth"
)

// refusing answers every key with one code, naming key k1 when found.
type refusing keygate.VerifyCode

func (r refusing) VerifyKey(context.Context, string, keygate.Target) (keygate.VerifyResult, error) {
	res := keygate.VerifyResult{Code: keygate.VerifyCode(r)}
	if res.Code == keygate.CodeRevoked || res.Code == keygate.CodeExpired {
		res.Key, res.Consumer = &keygate.VerifiedKey{ID: "k1"}, &keygate.Consumer{ID: "c1"}
	}
	return res, nil
}

// A refusal says why and which identifier was presented (for the anomaly
// detector), never the secret.
func TestRefusalReasonAndPresented(t *testing.T) {
	const secret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"
	key := "kg_live_AbCdEf123456" + secret + "_1a2B3c"
	for _, tc := range []struct {
		name, key       string
		code            keygate.VerifyCode
		presented, cred string
	}{
		{"not found", key, keygate.CodeNotFound, "kg_live_AbCdEf123456", ""},
		{"revoked", key, keygate.CodeRevoked, "kg_live_AbCdEf123456", "k1"},
		{"expired", key, keygate.CodeExpired, "kg_live_AbCdEf123456", "k1"},
		{"not keygate's shape", "some-imported-key", keygate.CodeNotFound, "", ""},
		{"too short for an identifier", "kg_live_abc_def", keygate.CodeMalformed, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := receivedRequest(t, "GET /x HTTP/1.1\r\nHost: h\r\napikey: "+tc.key+"\r\n\r\n")
			res, err := keyauth.New(*keygate.NewKeyAuthConfig(), refusing(tc.code)).Authenticate(context.Background(), r, keygate.Target{})
			if err != nil || res.Verdict != auth.Unauthenticated {
				t.Fatalf("verdict %v, %v", res.Verdict, err)
			}
			if res.Reason != tc.code || res.Presented != tc.presented || res.CredentialRecord != tc.cred {
				t.Errorf("reason %q, presented %q, credential %q; want %q, %q, %q", res.Reason, res.Presented, res.CredentialRecord, tc.code, tc.presented, tc.cred)
			}
			if strings.Contains(res.Presented, "S3cr3t") || strings.Contains(res.Message, "S3cr3t") {
				t.Error("the secret is in the result")
			}
		})
	}
}
