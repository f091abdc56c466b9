package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// keygateBin is the keygate binary TestMain built for this run.
var keygateBin string

// raceEnabled is set by race_test.go when the tests run with -race.
var raceEnabled bool

// TestMain builds the binary once (with -race when the tests run with it),
// runs the tests, and removes it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keygate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	keygateBin = filepath.Join(dir, "keygate")
	args := []string{"build", "-o", keygateBin}
	if raceEnabled {
		// As .ci/run's race step: no checkptr in modernc.org's SQLite (C
		// translated to Go), where it doubled a node's start.
		args = append(args, "-race", "-gcflags=modernc.org/...=-d=checkptr=0")
	}
	build := exec.Command("go", append(args, "github.com/keygate/keygate/cmd/keygate")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/keygate:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	if raceEnabled {
		// A binary built with -race sleeps a second before it exits (the race
		// runtime's atexit_sleep_ms), and these tests run it hundreds of times.
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
