package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// runCLI runs the keygate binary with args in this process's environment
// (which a test sets with t.Setenv: KEYGATE_ROOT_KEY, KEYGATE_ADMIN_URL ...)
// and returns its standard output and error together; a failed command's
// error holds that output, as the message it printed is its error.
func runCLI(tb testing.TB, args ...string) (string, error) {
	tb.Helper()
	out, err := exec.Command(keygateBin, args...).CombinedOutput()
	if err != nil {
		// Not the arguments: a test checks that a password in them is not shown.
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
