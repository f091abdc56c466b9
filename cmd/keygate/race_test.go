//go:build race

package main

// The race detector makes the 10,000-key backup test take a minute; the
// plain test run covers that size, the race run a tenth of it.
func init() { backupTestKeys = 1_000 }
