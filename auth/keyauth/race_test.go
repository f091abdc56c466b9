//go:build race

package keyauth_test

// The race detector's instrumentation allocates: allocation counts are
// checked without it.
func init() { raceEnabled = true }
