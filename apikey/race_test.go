//go:build race

package apikey_test

// Under the race detector sync.Pool drops items at random, so allocation
// counts of pooled code are meaningless.
func init() { raceEnabled = true }
