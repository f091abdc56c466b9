// Package e2e holds keygate's end-to-end tests: its TestMain builds the
// keygate binary once (with -race when the tests run with it), and each test
// starts `keygate serve` as a process per node on loopback ports, sends real
// HTTP through it to an httptest upstream, and runs the binary as the CLI.
// One file per command group or capability.
//
// A node's addresses come from serve's own "keygate started" log line (JSON
// logs on stderr, kept and shown when a test fails). Settings are serve's
// flags (startGatewayWith(t, "--redis-url", url)); a clock the test drives is
// a file whose modification time is the node's now (newFileClock, the hidden
// --clock-file flag); the lifecycle jobs run as often as --jobs-interval says.
//
// Moving a test written against cmd/keygate's in-process harness:
// g.main.ProxyURL() is g.proxyURL, g.main.AdminURL() g.adminURL,
// g.main.Config.DataDir g.dataDir, g.main.Close() g.stop(t) (SIGTERM);
// func(*Config) edits become flags; m.Now = clock.Now becomes
// clock := newFileClock(t, start) and startGatewayWith(t, clock.flags()...);
// what a test read from Main's parts it reads from /metrics, the admin API,
// the store opened beside the node, or the log (g.waitLog(t, "key filter built", 1)).
// Only what the binary cannot be made to do (a store closed under a running
// node) stays in cmd/keygate as a wiring test.
package e2e
