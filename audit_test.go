package keygate

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{"laptop stolen", "laptop stolen"},
		{"a\nb\tc\x1b[2J", "a b c [2J"},
		{"bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		if got := CleanReason(tt.in); got != tt.want {
			t.Errorf("CleanReason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("é", MaxAuditReason) // two bytes each
	if got := CleanReason(long); len(got) > MaxAuditReason || !utf8.ValidString(got) {
		t.Errorf("cut to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
