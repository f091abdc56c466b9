package main

import (
	"os"
	"testing"
)

// TestMain lets a test run this test binary as keygate itself (see
// runKeygate): with KEYGATE_TEST_RUN_MAIN=1 it is the real main, so a test
// can kill a real keygate process.
func TestMain(m *testing.M) {
	if os.Getenv("KEYGATE_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
