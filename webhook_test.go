package keygate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWebhookValidate(t *testing.T) {
	valid := func() *Webhook {
		return &Webhook{URL: "https://hooks.example.com/in?team=a", Events: []string{EventKeyCreated, EventKeyRevoked}, Description: "ops\tpager"}
	}
	tests := []struct {
		name string
		edit func(*Webhook)
		msg  string // "" : valid
	}{
		{"valid", func(*Webhook) {}, ""},
		{"http with a port", func(w *Webhook) { w.URL = "http://10.0.0.1:8080/in" }, ""},
		{"every event type", func(w *Webhook) { w.Events = EventTypes }, ""},
		{"no url", func(w *Webhook) { w.URL = "" }, "url: required"},
		{"relative url", func(w *Webhook) { w.URL = "/in" }, "url: scheme must be http or https"},
		{"other scheme", func(w *Webhook) { w.URL = "wss://x.example.com/" }, "url: scheme must be http or https"},
		{"no host", func(w *Webhook) { w.URL = "https://:443/in" }, "url: host required"},
		{"credentials", func(w *Webhook) { w.URL = "https://user:pw@x.example.com/" }, "url: must not contain credentials"},
		{"fragment", func(w *Webhook) { w.URL = "https://x.example.com/#top" }, "url: must not contain a fragment"},
		{"bad port", func(w *Webhook) { w.URL = "https://x.example.com:99999/" }, "url: port must be from 1 to 65535"},
		{"control character", func(w *Webhook) { w.URL = "https://x.example.com/\x7f" }, "url: not a valid URL"},
		{"too long", func(w *Webhook) { w.URL = "https://x.example.com/" + strings.Repeat("a", 2048) }, "url: longer than 2048"},
		{"no events", func(w *Webhook) { w.Events = nil }, "events: at least one event type is required"},
		{"unknown event", func(w *Webhook) { w.Events = []string{"key.created", "key.exploded"} }, `events: unknown event type "key.exploded"`},
		{"test pings are not subscribed to", func(w *Webhook) { w.Events = []string{EventWebhookTest} }, "events: unknown event type"},
		{"a long unknown event is cut", func(w *Webhook) { w.Events = []string{strings.Repeat("é", 100)} }, "…"},
		{"an event twice", func(w *Webhook) { w.Events = []string{"key.created", "key.created"} }, `events: "key.created" is listed twice`},
		{"long description", func(w *Webhook) { w.Description = strings.Repeat("x", 513) }, "description: longer than 512"},
		{"control in description", func(w *Webhook) { w.Description = "a\nb" }, "description: must not contain control characters"},
		{"description not UTF-8", func(w *Webhook) { w.Description = "\xff" }, "description: must be UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := valid()
			tt.edit(w)
			err := w.Validate()
			switch {
			case tt.msg == "" && err != nil:
				t.Errorf("Validate = %v", err)
			case tt.msg != "" && (ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.msg)):
				t.Errorf("Validate = %v, want INVALID saying %q", err, tt.msg)
			}
			if err != nil && len(ErrorMessage(err)) > 600 { // the list of event types, which grows
				t.Errorf("message of %d bytes", len(ErrorMessage(err)))
			}
		})
	}
}

func TestWebhookRequestAndPatch(t *testing.T) {
	off := false
	w := (&WebhookRequest{URL: "https://x.example.com/", Events: []string{EventKeyCreated}}).Webhook("c1")
	if !w.Enabled || w.ConsumerID != "c1" {
		t.Errorf("default %+v", w)
	}
	if w = (&WebhookRequest{URL: "https://x.example.com/", Events: []string{EventKeyCreated}, Enabled: &off}).Webhook(""); w.Enabled {
		t.Errorf("disabled %+v", w)
	}
	url, events, desc := "https://y.example.com/", []string{EventKeyLeaked}, "d"
	p := WebhookPatch{URL: &url, Events: &events, Enabled: &off, Description: &desc}
	if err := p.Apply(w); err != nil || w.URL != url || w.Events[0] != EventKeyLeaked || w.Enabled || w.Description != "d" {
		t.Errorf("patched %+v, %v", w, err)
	}
	empty := []string{}
	if err := (&WebhookPatch{Events: &empty}).Apply(w); ErrorCode(err) != EINVALID {
		t.Errorf("no events: %v", err)
	}
	if err := (&WebhookPatch{}).Apply(&Webhook{URL: "https://x.example.com/", Events: []string{EventKeyCreated}}); err != nil {
		t.Errorf("an empty patch: %v", err)
	}
}

func TestNewWebhookSecret(t *testing.T) {
	a, b := NewWebhookSecret(), NewWebhookSecret()
	if a == b || !strings.HasPrefix(a, WebhookSecretPrefix) || len(a) != len(WebhookSecretPrefix)+52 {
		t.Errorf("secrets %q %q", a, b)
	}
	// Letters and digits after the prefix: a double-click selects it whole.
	if strings.Trim(a[len(WebhookSecretPrefix):], "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Errorf("secret %q", a)
	}
}

func TestTruncateDeliveryError(t *testing.T) {
	for _, msg := range []string{"", "short", strings.Repeat("x", 1000), strings.Repeat("日本", 200)} {
		got := TruncateDeliveryError(msg)
		if len(got) > MaxDeliveryErrorLen || !utf8.ValidString(got) || len(msg) <= MaxDeliveryErrorLen && got != msg {
			t.Errorf("TruncateDeliveryError(%d bytes) = %d bytes %q", len(msg), len(got), got)
		}
	}
}

func FuzzParseWebhookURL(f *testing.F) {
	for _, s := range []string{"https://x.example.com/in?a=b", "http://[::1]:80/", "https://u@x/", "javascript:alert(1)", "https://x/#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseWebhookURL(raw)
		if err != nil {
			if ErrorCode(err) != EINVALID || !strings.HasPrefix(ErrorMessage(err), "url: ") {
				t.Errorf("ParseWebhookURL(%q) = %v", raw, err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
			t.Errorf("ParseWebhookURL(%q) accepted %#v", raw, u)
		}
	})
}
