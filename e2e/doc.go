// Package e2e holds keygate's end-to-end tests: its TestMain builds the
// keygate binary once, and each test starts `keygate serve` as a process on
// loopback ports, sends real HTTP through it to an httptest upstream, and
// runs the binary as the CLI. One file per command group or capability.
package e2e
