package e2e

import (
	"testing"
	"time"
)

// keygate serve as a process: how it stops.

// SIGTERM lets the requests in flight finish before keygate exits.
func TestShutdownLetsRequestsInFlightFinish(t *testing.T) {
	g := startGateway(t)
	g.service(t, "slow", g.upstream.URL, nil)
	g.route(t, "slow", "slow", nil)
	done := make(chan int)
	go func() {
		status, _, _ := g.call(t, "GET", "/slow?sleep=300ms", nil)
		done <- status
	}()
	time.Sleep(100 * time.Millisecond)
	if err := g.stop(t); err != nil { // SIGTERM
		t.Fatalf("keygate's exit after SIGTERM: %v", err)
	}
	if status := <-done; status != 200 {
		t.Fatalf("request in flight got %d, want 200", status)
	}
}
