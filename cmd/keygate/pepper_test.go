package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A legacy pepper is refused when others can read its file or it is too short.
func TestLegacyPepperRefusals(t *testing.T) {
	t.Run("a pepper file others can read is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pepper")
		os.WriteFile(path, []byte(strings.Repeat("x", 40)), 0o644)
		if _, err := legacyPepper("", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a short KEYGATE_PEPPER is refused", func(t *testing.T) {
		if _, err := legacyPepper("short", ""); err == nil || !strings.Contains(err.Error(), "KEYGATE_PEPPER") {
			t.Fatalf("err = %v", err)
		}
	})
}
