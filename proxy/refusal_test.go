package proxy

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// An address gets refusalsPerAddress refusals a second at once; past them
// each waits RefusalDelay, and another address is not held back by it.
func TestRefusalsPastTheAllowanceWait(t *testing.T) {
	const delay = 40 * time.Millisecond
	p := New(nil, nil, Config{Logger: slog.New(slog.DiscardHandler), RefusalDelay: delay})
	flooder := &exchange{client: netip.MustParseAddr("192.0.2.1")}
	other := &exchange{client: netip.MustParseAddr("2001:db8::1")}
	timed := func(x *exchange) time.Duration {
		start := time.Now()
		p.slowRefusal(x)
		return time.Since(start)
	}
	for i := range refusalsPerAddress {
		if d := timed(flooder); d >= delay {
			t.Fatalf("refusal %d within the allowance waited %v", i+1, d)
		}
	}
	if d := timed(flooder); d < delay {
		t.Errorf("a refusal past the allowance waited %v, want %v", d, delay)
	}
	if d := timed(other); d >= delay {
		t.Errorf("another address's refusal waited %v", d)
	}

	off := New(nil, nil, Config{Logger: slog.New(slog.DiscardHandler)})
	for range 2 * refusalsPerAddress {
		start := time.Now()
		off.slowRefusal(flooder)
		if d := time.Since(start); d >= delay {
			t.Fatalf("with RefusalDelay 0 a refusal waited %v", d)
		}
	}
}
