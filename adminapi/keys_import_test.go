package adminapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
)

// A key as Kong generates them: 32 hex characters.
const kongKey = "5a1c6d2e8f0b4c3a9d7e6f5a4b3c2d1e"

func importKey(tb testing.TB, e *adminapitest.Env, consumer, body string) keygate.APIKey {
	tb.Helper()
	r := request(tb, e, "POST", "/v1/consumers/"+consumer+"/keys", body, nil)
	if r.status != 201 {
		tb.Fatalf("import: %d %s", r.status, r.body)
	}
	var k keygate.APIKey
	if err := json.Unmarshal([]byte(r.body), &k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// An imported key keeps working as it is, through the verify API as at the
// gateway; no response, log line, audit record or event ever holds it.
func TestImportedKeyWorksAndIsNeverShown(t *testing.T) {
	e := adminapitest.New(t)
	events := &eventLog{}
	e.Server.Events = events
	ctx := context.Background()
	alice := newConsumer(t, e.Client, "alice")

	r := request(t, e, "POST", "/v1/consumers/alice/keys", `{"key":"`+kongKey+`","import":true,"name":"from-kong","tags":["kong"]}`, nil)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var k keygate.APIKey
	if err := json.Unmarshal([]byte(r.body), &k); err != nil {
		t.Fatal(err)
	}
	if !k.Imported || k.Consumer.ID != alice.ID || k.Name != "from-kong" || k.Prefix != "" || !strings.HasPrefix(k.Start, "imported_") ||
		len(k.Start) != len("imported_")+6 || k.Status != keygate.KeyActive {
		t.Fatalf("imported %+v", k)
	}
	if strings.Contains(r.body, `"key":`) {
		t.Errorf("the answer has a key field: %s", r.body)
	}

	verify := func(key string) keygate.VerifyCode {
		t.Helper()
		res, err := e.Client.VerifyKey(ctx, keygate.VerifyRequest{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return res.Code
	}
	if code := verify(kongKey); code != keygate.CodeValid {
		t.Errorf("verify the imported key: %s, want VALID", code)
	}
	if code := verify(strings.ToUpper(kongKey)); code != keygate.CodeNotFound {
		t.Errorf("verify another foreign value: %s, want NOT_FOUND", code)
	}

	after := map[string]response{
		"get":           request(t, e, "GET", "/v1/keys/"+k.ID, "", nil),
		"list":          request(t, e, "GET", "/v1/keys", "", nil),
		"consumer list": request(t, e, "GET", "/v1/consumers/alice/keys", "", nil),
		"audit":         request(t, e, "GET", "/v1/audit", "", nil),
		"revoke":        request(t, e, "POST", "/v1/keys/"+k.ID+"/revoke", "", nil),
	}
	for name, r := range after {
		if r.status != 200 || !strings.Contains(r.body, k.ID) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
		if strings.Contains(r.body, kongKey[4:]) {
			t.Errorf("%s shows the key: %s", name, r.body)
		}
	}
	if code := verify(kongKey); code != keygate.CodeRevoked {
		t.Errorf("verify after revoke: %s, want REVOKED", code)
	}
	if strings.Contains(e.Logs.String(), kongKey[4:]) {
		t.Errorf("the key is logged: %s", e.Logs)
	}

	audit, _, err := e.Store.ListAudit(ctx, keygate.AuditFilter{TargetID: k.ID}, keygate.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[0].Action != "key.imported" {
		t.Errorf("audit trail %+v, want key.imported first", audit)
	}
	if len(events.events) == 0 || events.events[0].Type != keygate.EventKeyCreated || events.events[0].Data["imported"] != true ||
		events.events[0].Data["key_id"] != k.ID {
		t.Errorf("events %+v, want key.created marked imported", events.events)
	}
	for _, ev := range events.events {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), kongKey[4:]) {
			t.Errorf("event %s holds the key", b)
		}
	}
}

func TestImportKeyRefused(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	newConsumer(t, e.Client, "bob")
	importKey(t, e, "alice", `{"key":"`+kongKey+`","import":true}`)
	issued := request(t, e, "POST", "/v1/consumers/alice/keys", `{}`, nil)
	var own keygate.IssuedKey
	if err := json.Unmarshal([]byte(issued.body), &own); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		consumer string
		body     string
		status   int
		msg      string
	}{
		{"a key without import", "alice", `{"key":"abcdefgh12345678"}`, 400, `key: set only to import an existing key`},
		{"import without a key", "alice", `{"import":true}`, 400, "key: required to import a key"},
		{"too long", "alice", `{"key":"` + strings.Repeat("k", 257) + `","import":true}`, 400, "key: an imported key must be 1 to 256 characters"},
		{"a space", "alice", `{"key":"secret key value","import":true}`, 400, "key: an imported key may contain only printable ASCII characters"},
		{"a control character", "alice", `{"key":"secret\u0001keyvalue","import":true}`, 400, "key: an imported key may contain only printable ASCII characters"},
		{"non-ASCII", "alice", `{"key":"sécretkeyvalue","import":true}`, 400, "key: an imported key may contain only printable ASCII characters"},
		{"a keygate key", "alice", `{"key":"` + own.Key + `","import":true}`, 400, "key: this key is in keygate's own key format"},
		{"imported twice", "alice", `{"key":"` + kongKey + `","import":true}`, 409, "key: this key was imported already"},
		{"imported twice, for another consumer", "bob", `{"key":"` + kongKey + `","import":true}`, 409, "key: this key was imported already"},
		{"an unknown consumer", "carol", `{"key":"another-kong-key","import":true}`, 404, "consumer"},
		{"bad settings", "alice", `{"key":"another-kong-key","import":true,"allowed_cidrs":["nope"]}`, 400, "allowed_cidrs[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, e, "POST", "/v1/consumers/"+tt.consumer+"/keys", tt.body, nil)
			if r.status != tt.status || !strings.Contains(r.body, tt.msg) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tt.status, tt.msg)
			}
			var body map[string]any
			json.Unmarshal([]byte(tt.body), &body)
			if key, _ := body["key"].(string); key != "" && strings.Contains(r.body, key) {
				t.Errorf("the error echoes the key: %s", r.body)
			}
		})
	}
	if keys := request(t, e, "GET", "/v1/consumers/bob/keys", "", nil); strings.Contains(keys.body, `"id"`) {
		t.Errorf("a refused import left a key: %s", keys.body)
	}
}

func TestListImportedKeys(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	newConsumer(t, e.Client, "bob")
	a := importKey(t, e, "alice", `{"key":"alice-kong-key-1","import":true}`)
	b := importKey(t, e, "bob", `{"key":"bob-kong-key-1","import":true}`)
	generated := request(t, e, "POST", "/v1/consumers/alice/keys", `{}`, nil)
	var g keygate.IssuedKey
	json.Unmarshal([]byte(generated.body), &g)

	ids := func(path string) []string {
		t.Helper()
		r := request(t, e, "GET", path, "", nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var l keygate.List[*keygate.APIKey]
		json.Unmarshal([]byte(r.body), &l)
		var out []string
		for _, k := range l.Data {
			out = append(out, k.ID)
		}
		return out
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/v1/keys?imported=true", []string{a.ID, b.ID}},
		{"/v1/keys?imported=false", []string{g.ID}},
		{"/v1/consumers/alice/keys?imported=true", []string{a.ID}},
		{"/v1/consumers/alice/keys?imported=false", []string{g.ID}},
		{"/v1/consumers/alice/keys", []string{a.ID, g.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := ids(tt.path); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
		})
	}
	if r := request(t, e, "GET", "/v1/keys?imported=maybe", "", nil); r.status != 400 || !strings.Contains(r.body, "imported: must be true or false") {
		t.Errorf("a bad filter: %d %s", r.status, r.body)
	}
}

// Rotating an imported key issues a keygate key; the imported one works
// until the grace period ends.
func TestRotateImportedKey(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	k := importKey(t, e, "alice", `{"key":"`+kongKey+`","import":true}`)
	rot, err := e.Client.RotateKey(context.Background(), k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Key.Imported || !strings.HasPrefix(rot.Key.Key, "kg_test_") || !rot.Previous.Imported || rot.Previous.ExpiresAt == nil {
		t.Fatalf("rotation %+v", rot)
	}
	for _, key := range []string{kongKey, rot.Key.Key} {
		res, err := e.Client.VerifyKey(context.Background(), keygate.VerifyRequest{Key: key})
		if err != nil || res.Code != keygate.CodeValid {
			t.Errorf("verify during the grace period: %v %v", res, err)
		}
	}
}

// An imported key reported as leaked (by hand: secret scanners know only
// keygate's format) is revoked like any key.
func TestLeakedImportedKeyIsRevoked(t *testing.T) {
	e := adminapitest.New(t)
	newConsumer(t, e.Client, "alice")
	k := importKey(t, e, "alice", `{"key":"`+kongKey+`","import":true}`)
	body := `[{"token":"` + kongKey + `","type":"kong_key","url":"https://paste.example.com/1","source":"content"},
		{"token":"` + strings.ToUpper(kongKey) + `","type":"kong_key","url":"u","source":"content"}]`
	r := request(t, e, "POST", "/v1/leaks", body, nil)
	if r.status != 200 || strings.Contains(r.body, kongKey) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var results []struct{ Label, Action string }
	json.Unmarshal([]byte(r.body), &results)
	if len(results) != 2 || results[0].Action != "revoked" || results[0].Label != "true_positive" || results[1].Action != "not_a_key" {
		t.Fatalf("results %s", r.body)
	}
	res, err := e.Client.VerifyKey(context.Background(), keygate.VerifyRequest{Key: kongKey})
	if err != nil || res.Code != keygate.CodeRevoked {
		t.Errorf("the leaked imported key verifies as %v %v", res, err)
	}
	if got, _ := e.Client.Key(context.Background(), k.ID); got.Status != keygate.KeyRevoked {
		t.Errorf("status %s", got.Status)
	}
}
