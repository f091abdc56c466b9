//go:build race

package e2e

// raceEnabled builds the keygate binary with the race detector when the
// tests themselves run with it.
func init() { raceEnabled = true }
