package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/apikey"
)

// GitHub's secret scanning partner program signs each report with ECDSA
// P-256 over the raw body; these headers carry the key id and signature.
const (
	headerLeakKeyID     = "Github-Public-Key-Identifier"
	headerLeakSignature = "Github-Public-Key-Signature"
)

// maxLeakTokens bounds one report.
const maxLeakTokens = 1000

// LeakReport is one exposed token, in GitHub's secret scanning format.
type LeakReport struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// LeakResult says what was done with one reported token. The token itself is
// not echoed, only its SHA-256, as GitHub's feedback format allows.
type LeakResult struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	// Label is true_positive for a live keygate key, false_positive otherwise.
	Label  string `json:"label"`
	Action string `json:"action"` // revoked, already_revoked, not_a_key, unknown_key
	KeyID  string `json:"key_id,omitempty"`
	// AlsoRevoked are the keys that replaced the leaked one by rotation:
	// whoever holds a leaked key may have rotated it to a key of their own.
	AlsoRevoked []string `json:"also_revoked,omitempty"`
}

// ParseLeakReportKeys reads the public keys leak reports are signed with, in
// the format of GitHub's https://api.github.com/meta/public_keys/secret_scanning:
// {"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----..."}]}.
func ParseLeakReportKeys(data []byte) (map[string]*ecdsa.PublicKey, error) {
	var doc struct {
		PublicKeys []struct {
			ID  string `json:"key_identifier"`
			Key string `json:"key"`
		} `json:"public_keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("leak report keys: %w", err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for i, k := range doc.PublicKeys {
		block, _ := pem.Decode([]byte(k.Key))
		if block == nil || k.ID == "" {
			return nil, fmt.Errorf("leak report keys: entry %d: needs key_identifier and a PEM key", i)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("leak report keys: entry %d: %w", i, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("leak report keys: entry %d: not an ECDSA key", i)
		}
		keys[k.ID] = ec
	}
	return keys, nil
}

// signedLeakReport reports whether the request claims to be a signed report
// from a secret scanning service; such requests need no admin token, but
// must carry a valid signature.
func signedLeakReport(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/v1/leaks" && r.Header.Get(headerLeakSignature) != ""
}

// reportLeaks takes reports of exposed keys: every reported keygate key that
// is live is revoked at once, and its consumer told (key.leaked). A token
// that is not a well-formed key is skipped without a lookup; one whose
// secret does not match is not revoked, so a made-up report cannot revoke
// someone's key by naming its identifier.
func (s *Server) reportLeaks(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return keygate.Errorf(keygate.ETOOLARGE, "body: at most 1 MiB")
	}
	if signedLeakReport(r) {
		if err := s.verifyLeakSignature(r, body); err != nil {
			return err
		}
		r = r.WithContext(keygate.WithActor(r.Context(), "leak-report:"+r.Header.Get(headerLeakKeyID)))
	}
	var reports []LeakReport
	if err := decode(body, &reports); err != nil {
		return err
	}
	if len(reports) > maxLeakTokens {
		return keygate.Errorf(keygate.EINVALID, "body: at most %d tokens per report", maxLeakTokens)
	}
	results := make([]LeakResult, 0, len(reports))
	for _, rep := range reports {
		res, err := s.handleLeak(r, rep)
		if err != nil {
			return err // a store failure: the reporter retries the whole report
		}
		results = append(results, res)
	}
	return reply(w, http.StatusOK, results)
}

// leakedKey finds the key token is: a keygate key, or an imported one (any
// other string that an import would take). It returns nil and the action
// to report when token is no stored key or its secret does not match.
func (s *Server) leakedKey(ctx context.Context, token string) (*keygate.APIKey, string, error) {
	var identifier string
	var matches func(stored []byte) bool
	notFound := "unknown_key"
	key, err := s.Keys.Parse(token)
	switch {
	case err == nil:
		identifier, matches = key.Identifier(), func(stored []byte) bool { return s.Hasher.Verify(key, stored) }
	case err == apikey.ErrMalformed && apikey.IsImportable(token):
		var id [apikey.IdentifierLen]byte
		s.Hasher.ImportedIdentifier(token, &id)
		identifier, matches = string(id[:]), func(stored []byte) bool { return s.Hasher.VerifyImported(&id, token, stored) }
		notFound = "not_a_key" // not in keygate's format, and imported as no key
	default:
		return nil, "not_a_key", nil
	}
	stored, _, err := s.Store.LookupKey(ctx, identifier)
	switch {
	case keygate.ErrorCode(err) == keygate.ENOTFOUND:
		return nil, notFound, nil
	case err != nil:
		return nil, "", err
	case !matches(stored.SecretHash):
		return nil, "unknown_key", nil // the identifier exists, the secret does not match
	}
	return stored, "", nil
}

func (s *Server) handleLeak(r *http.Request, rep LeakReport) (LeakResult, error) {
	sum := sha256.Sum256([]byte(rep.Token))
	res := LeakResult{TokenHash: hex.EncodeToString(sum[:]), TokenType: rep.Type, Label: "false_positive"}
	stored, action, err := s.leakedKey(r.Context(), rep.Token)
	if err != nil || stored == nil {
		res.Action = action
		return res, err
	}
	res.Label, res.KeyID = "true_positive", stored.ID
	ctx := keygate.WithReason(r.Context(), "reported as leaked at "+rep.URL)
	if stored.Status == keygate.KeyRevoked {
		res.Action = "already_revoked"
	} else {
		if _, err := s.Store.RevokeKey(ctx, stored.ID); err != nil {
			return res, err
		}
		res.Action = "revoked"
	}
	// Its successors go too, even when the key itself was revoked before:
	// they may have been minted with it before that.
	for next := stored.SuccessorID; next != ""; {
		k, err := s.Store.FindKey(ctx, next)
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			break
		} else if err != nil {
			return res, err
		}
		if k.Status == keygate.KeyActive {
			if _, err := s.Store.RevokeKey(keygate.WithReason(ctx, "successor of a key reported as leaked"), k.ID); err != nil {
				return res, err
			}
			res.AlsoRevoked = append(res.AlsoRevoked, k.ID)
		}
		next = k.SuccessorID
	}
	if res.Action == "already_revoked" {
		return res, nil
	}
	s.logger().Warn("leaked key revoked", "key_id", stored.ID, "consumer_id", stored.Consumer.ID, "url", rep.URL, "source", rep.Source)
	if s.Events != nil {
		s.Events.Publish(r.Context(), keygate.Event{Type: keygate.EventKeyLeaked, CreatedAt: s.now(), ConsumerID: stored.Consumer.ID,
			Data: map[string]any{"key_id": stored.ID, "url": rep.URL, "source": rep.Source}})
	}
	return res, nil
}

func (s *Server) verifyLeakSignature(r *http.Request, body []byte) error {
	pub := s.LeakReportKeys[r.Header.Get(headerLeakKeyID)]
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(headerLeakSignature))
	if pub == nil || err != nil {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "leak report: unknown signing key or malformed signature")
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		return keygate.Errorf(keygate.EUNAUTHORIZED, "leak report: the signature does not verify")
	}
	return nil
}
