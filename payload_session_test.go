package keygate

import (
	"strings"
	"testing"
	"time"
)

func TestRoutePayloadEncryption(t *testing.T) {
	tests := []struct {
		name, mode string
		keyAuth    bool
		want       string
	}{
		{"off by default", "", false, ""},
		{"off", "off", false, ""},
		{"static", "static", true, ""},
		{"dynamic", "dynamic", true, ""},
		{"unknown mode", "on", true, "payload_encryption: must be off, static or dynamic"},
		{"an open route", "dynamic", false, "payload_encryption: needs an authentication method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoute()
			r.Name, r.Service, r.Paths, r.PayloadEncryption = "r", Ref{Name: "s"}, []string{"/r"}, tt.mode
			if tt.keyAuth {
				r.KeyAuth = NewKeyAuthConfig()
			}
			err := r.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.HasPrefix(ErrorMessage(err), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
			if err == nil && r.EncryptsPayloads() != (tt.mode == "static" || tt.mode == "dynamic") {
				t.Errorf("EncryptsPayloads() = %v", r.EncryptsPayloads())
			}
		})
	}
	r := &Route{PayloadEncryption: "off"}
	r.Normalize()
	if r.PayloadEncryption != "" {
		t.Errorf("off normalized to %q, want empty (the default, left out of JSON)", r.PayloadEncryption)
	}
}

func TestPayloadSessionExpired(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &PayloadSession{ExpiresAt: now}
	if s.Expired(now.Add(-time.Nanosecond)) || !s.Expired(now) {
		t.Error("a session ends at its ExpiresAt")
	}
	data := s.EventData("admin:ops")
	if _, ok := data["key"]; ok || data["by"] != "admin:ops" {
		t.Errorf("event data %v", data)
	}
}
