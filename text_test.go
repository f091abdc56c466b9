package keygate

import (
	"strings"
	"testing"
)

// TestTextProblem: the one rule for identity fields and names refuses
// control (Cc), format (Cf) and line/paragraph separator (Zl, Zp)
// characters and invalid UTF-8 wherever they are, names the character and
// its byte offset without echoing the text, and accepts other non-ASCII text.
func TestTextProblem(t *testing.T) {
	const (
		ctl  = "must not contain control or format characters"
		utf8 = "must be valid UTF-8"
	)
	tests := []struct {
		name string
		s    string
		want string // "" when accepted; else the whole message
	}{
		{"empty", "", ""},
		{"ASCII", "acme-4711_x.y~z", ""},
		{"Latin with a diaeresis", "Zoë", ""},
		{"Japanese", "東京", ""},
		{"Arabic", "مرحبا", ""},
		{"combining accent", "Zoe\u0308", ""},
		{"emoji", "🔑-team", ""},
		{"no-break space (Zs)", "a\u00a0b", ""},
		{"replacement character itself", "a\ufffdb", ""},
		{"private use (Co)", "a\ue000b", ""},
		{"punctuation a lookalike might use", "a\u2024b", ""}, // ONE DOT LEADER, So/Po: not this rule's business

		{"C0 NUL first", "\x00acme", ctl + " (U+0000 at byte 0)"},
		{"C0 newline middle", "ac\nme", ctl + " (U+000A at byte 2)"},
		{"C0 tab last", "acme\t", ctl + " (U+0009 at byte 4)"},
		{"DEL", "ac\x7fme", ctl + " (U+007F at byte 2)"},
		{"C1 NEL first", "\u0085acme", ctl + " (U+0085 at byte 0)"},
		{"C1 NEL middle", "ac\u0085me", ctl + " (U+0085 at byte 2)"},
		{"C1 CSI last", "acme\u009b", ctl + " (U+009B at byte 4)"},
		{"C1 after non-ASCII", "Zoë\u0085", ctl + " (U+0085 at byte 4)"},
		{"bidi override RLO", "abc\u202Egnp.exe", ctl + " (U+202E at byte 3)"},
		{"bidi isolate LRI", "\u2066x", ctl + " (U+2066 at byte 0)"},
		{"right-to-left mark", "x\u200f", ctl + " (U+200F at byte 1)"},
		{"zero-width space", "ad\u200bmin", ctl + " (U+200B at byte 2)"},
		{"zero-width joiner", "a\u200db", ctl + " (U+200D at byte 1)"},
		{"byte order mark first", "\ufeffacme", ctl + " (U+FEFF at byte 0)"},
		{"soft hyphen", "ac\u00adme", ctl + " (U+00AD at byte 2)"},
		{"tag character (Cf, astral)", "a\U000E0041", ctl + " (U+E0041 at byte 1)"},
		{"line separator (Zl)", "a\u2028b", ctl + " (U+2028 at byte 1)"},
		{"paragraph separator (Zp) last", "東京\u2029", ctl + " (U+2029 at byte 6)"},
		{"invalid byte first", "\xffacme", utf8 + " (invalid byte at 0)"},
		{"invalid byte middle", "Zo\xebx", utf8 + " (invalid byte at 2)"},
		{"truncated sequence last", "acme\xe2\x80", utf8 + " (invalid byte at 4)"},
		{"overlong encoding", "a\xc0\xafb", utf8 + " (invalid byte at 1)"},
		{"encoded surrogate", "a\xed\xa0\x80", utf8 + " (invalid byte at 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := textProblem(tt.s); got != tt.want {
				t.Errorf("textProblem(%q) = %q, want %q", tt.s, got, tt.want)
			}
			err := checkText("custom_id", tt.s)
			if tt.want == "" {
				if err != nil {
					t.Errorf("checkText: %v", err)
				}
				return
			}
			if ErrorCode(err) != EINVALID || ErrorMessage(err) != "custom_id: "+tt.want {
				t.Errorf("checkText = %v, want %s custom_id: %s", err, EINVALID, tt.want)
			}
			if len(tt.s) > 2 && strings.Contains(ErrorMessage(err), tt.s) {
				t.Errorf("message %q echoes the value", ErrorMessage(err))
			}
		})
	}
}

func BenchmarkTextProblem(b *testing.B) {
	for _, s := range []string{"partners-eu-west-1", "Zoë-東京-partners"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if textProblem(s) != "" {
					b.Fatal("refused")
				}
			}
		})
	}
}
