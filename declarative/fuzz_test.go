package declarative_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keygate/keygate/declarative"
)

// FuzzParse: any input is a document or an error, never a panic.
func FuzzParse(f *testing.F) {
	addSeeds(f, "testdata/*.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := declarative.Parse("f.yaml", data)
		if err == nil && d == nil {
			t.Fatal("no document and no error")
		}
	})
}

// FuzzParseKong: any input is an import or an error, never a panic.
func FuzzParseKong(f *testing.F) {
	addSeeds(f, "testdata/kong/*.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		imp, err := declarative.ParseKong("kong.yml", data)
		if err == nil && imp == nil {
			t.Fatal("no import and no error")
		}
	})
}

func addSeeds(f *testing.F, pattern string) {
	f.Helper()
	files, _ := filepath.Glob(pattern)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
