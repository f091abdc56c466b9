package proxy

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/sessioncrypto"
)

func testKey(tb testing.TB) *sessioncrypto.Key {
	tb.Helper()
	k, err := sessioncrypto.NewKey(make([]byte, sessioncrypto.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func sealedParams(tb testing.TB, k *sessioncrypto.Key, seq uint64, params string) string {
	env, err := k.SealRequest(nil, "s", seq, "POST", "/rpc", []byte(params))
	if err != nil {
		tb.Fatal(err)
	}
	v, _ := json.Marshal(sessioncrypto.SealedValue{Format: EncryptedFormat, Value: base64.StdEncoding.EncodeToString(env)})
	return string(v)
}

func TestOpenJSONRPC(t *testing.T) {
	k := testKey(t)
	tests := []struct {
		name, body, want, msg string
	}{
		{"sealed params", `{"jsonrpc":"2.0","id":1,"method":"m","params":` + sealedParams(t, k, 1, `{"a":[1,2]}`) + `}`,
			`{"id":1,"jsonrpc":"2.0","method":"m","params":{"a":[1,2]}}`, ""},
		{"plain params", `{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":1}}`, "", `"format": "Encrypted"`},
		{"no params", `{"jsonrpc":"2.0","id":1,"method":"m"}`, "", `"format": "Encrypted"`},
		{"a batch", `[{"jsonrpc":"2.0","id":1,"method":"m"}]`, "", "batches"},
		{"value not base64", `{"jsonrpc":"2.0","params":{"format":"Encrypted","value":"***"}}`, "", "base64"},
		{"sealed params that are not JSON", `{"jsonrpc":"2.0","params":` + sealedParams(t, k, 2, `{a}`) + `}`, "", "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, msg, err := openJSONRPC(k, "s", "POST", "/rpc", []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want || !strings.Contains(msg, tt.msg) {
				t.Errorf("got %s, %q; want %s, %q", out, msg, tt.want, tt.msg)
			}
		})
	}
	// Sealed for another path: refused as an envelope that does not open.
	if _, _, _, err := openJSONRPC(k, "s", "POST", "/other", []byte(`{"jsonrpc":"2.0","params":`+sealedParams(t, k, 3, `1`)+`}`)); err == nil {
		t.Error("params sealed for /rpc opened on /other")
	}
}

func TestSealJSONRPC(t *testing.T) {
	k := testKey(t)
	pe := &payloadExchange{sessionID: "s", key: k, seq: 9, method: "POST", path: "/rpc", jsonRPC: true}
	out, ok := sealJSONRPC(pe, []byte(`{"jsonrpc":"2.0","id":1,"result":{"n":1}}`))
	if !ok {
		t.Fatal("not sealed")
	}
	var answer struct {
		Result sessioncrypto.SealedValue `json:"result"`
	}
	if err := json.Unmarshal(out, &answer); err != nil || answer.Result.Format != EncryptedFormat {
		t.Fatalf("answer %s", out)
	}
	env, _ := base64.StdEncoding.DecodeString(answer.Result.Value)
	if plain, err := k.OpenResponse(nil, "s", 9, "POST", "/rpc", env); err != nil || string(plain) != `{"n":1}` {
		t.Errorf("result opens to %s, %v", plain, err)
	}
	errAnswer := `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no such method"}}`
	if out, ok := sealJSONRPC(pe, []byte(errAnswer)); !ok || string(out) != errAnswer {
		t.Errorf("an error answer: %s, %v; want it as it is", out, ok)
	}
	if _, ok := sealJSONRPC(pe, []byte(`<html>`)); ok {
		t.Error("a body that is not JSON-RPC was taken for one")
	}
}

func FuzzOpenJSONRPC(f *testing.F) {
	k := testKey(f)
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"m","params":` + sealedParams(f, k, 1, `{"a":1}`) + `}`))
	f.Add([]byte(`{"jsonrpc":"2.0","params":{"format":"Encrypted","value":""}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, _, msg, err := openJSONRPC(k, "s", "POST", "/rpc", body)
		if err == nil && msg == "" && !json.Valid(out) {
			t.Fatalf("opened into invalid JSON %q", out)
		}
		isJSONRPC(body)
	})
}

func TestSessionCacheBound(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions(&PayloadConfig{CacheSize: 2})
	live := func(id string, ttl time.Duration) *liveSession {
		return &liveSession{s: &keygate.PayloadSession{ID: id, ExpiresAt: now.Add(ttl)}}
	}
	for _, id := range []string{"a", "b"} {
		if _, err := ss.add(live(id, time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	// Full of live sessions: a third is refused, none evicted (it would lose its window).
	if _, err := ss.add(live("c", time.Minute), now); !errors.Is(err, errSessionsFull) {
		t.Fatalf("a third session: %v, want errSessionsFull", err)
	}
	// The same session added twice keeps the first copy, whose window counts.
	first := ss.live["a"]
	first.window.Accept(1)
	if got, _ := ss.add(live("a", time.Minute), now); got != first || got.window.Accept(1) {
		t.Error("a second copy replaced the first and its window")
	}
	// Once one has expired, it makes room.
	if _, err := ss.add(live("c", time.Minute), now.Add(2*time.Minute)); err != nil {
		t.Errorf("with expired sessions held: %v", err)
	}
	ss.drop("c")
	if _, ok := ss.live["c"]; ok {
		t.Error("dropped session still held")
	}
}
