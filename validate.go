package keygate

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const maxNameLen = 128

// validateName checks an entity name: Kong's character set, and not shaped
// like an id, so that "id or name" lookups are never ambiguous.
func validateName(field, name string, required bool) error {
	switch {
	case name == "" && required:
		return Errorf(EINVALID, "%s: required", field)
	case name == "":
		return nil
	case len(name) > maxNameLen:
		return Errorf(EINVALID, "%s: longer than %d characters", field, maxNameLen)
	}
	// Before the character set, which refuses these too, so that the
	// message says which character and where.
	if err := checkText(field, name); err != nil {
		return err
	}
	switch {
	case strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~") != "":
		return Errorf(EINVALID, "%s: may contain only letters, digits, '.', '-', '_' and '~'", field)
	case strings.Trim(name, ".") == "":
		return Errorf(EINVALID, "%s: must not consist of dots only", field)
	case LooksLikeID(name):
		return Errorf(EINVALID, "%s: must not have the form of an id", field)
	}
	return nil
}

// LooksLikeID reports whether s has the shape of an entity id (a UUID).
func LooksLikeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func validateTags(tags []string) error {
	return validateList("tags", tags, validateLabel)
}

// validateLabel checks a group or a tag: a word that lists join with commas.
func validateLabel(s string) string {
	switch {
	case s == "" || len(s) > maxNameLen || strings.ContainsAny(s, ", "):
		return fmt.Sprintf("must be 1-%d characters without spaces or commas", maxNameLen)
	}
	return textProblem(s)
}

// checkText applies textProblem to field.
func checkText(field, s string) error {
	if problem := textProblem(s); problem != "" {
		return Errorf(EINVALID, "%s: %s", field, problem)
	}
	return nil
}

// textProblem is the one rule for every identity field and name an admin
// gives (usernames, custom_id, groups, tags, names): valid UTF-8 without
// Unicode control (Cc: C0, DEL, C1 such as U+0085 NEL), format (Cf: bidi
// overrides, zero-width characters, BOM) or line and paragraph separator
// (Zl, Zp) characters. They reach upstreams as header values and admins
// as text on a screen: a C1 or separator can end a line in a lenient
// parser or log, a bidi override or zero-width character makes one name
// look like another. It returns why s is refused, naming the character
// and its byte offset but never echoing s, or "" when s is fine. Other
// non-ASCII text (Zoë, 東京) is fine.
func textProblem(s string) string {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf { // ASCII: the common case, without decoding
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("must not contain control or format characters (%U at byte %d)", rune(c), i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return fmt.Sprintf("must be valid UTF-8 (invalid byte at %d)", i)
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("must not contain control or format characters (%U at byte %d)", r, i)
		}
		i += n
	}
	return ""
}

// hasControl reports whether s holds an ASCII control character. Consumer
// fields reach upstreams as header values, where a control character makes
// the request unsendable: every call of that consumer would end in a 502.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// ValidRequestID reports whether a caller's request id is safe to keep:
// 1-128 letters, digits, '.', '_' or '-', so it can be echoed into headers
// and logs as is.
func ValidRequestID(id string) bool {
	if len(id) < 1 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
