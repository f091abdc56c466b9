package keyauth

import (
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// TestInternerHandsOutWhatWasRead: whatever order copies of a consumer
// arrive in (a load that read it before a change can finish after one that
// read it after), intern returns a copy equal to the one it was given, and
// the same copy for equal ones.
func TestInternerHandsOutWhatWasRead(t *testing.T) {
	var in interner
	r := rand.New(rand.NewPCG(1, 2))
	versions := []keygate.Consumer{
		{ID: "c1", Username: "alice", Groups: []string{"staff"}},
		{ID: "c1", Username: "alice", Groups: []string{"partners"}},
		{ID: "c1", Username: "alice", Groups: []string{"partners"}, Plan: &keygate.Ref{ID: "gold"}},
		{ID: "c2", Username: "bob"},
	}
	held := map[string]*keygate.Consumer{}
	for range 1000 {
		v := versions[r.IntN(len(versions))]
		read := &v // a fresh copy, as a store read gives
		v.Groups = append([]string(nil), v.Groups...)
		got := in.intern(read)
		if !reflect.DeepEqual(got, read) {
			t.Fatalf("intern(%+v) = %+v", read, got)
		}
		if prev := held[v.ID]; prev != nil && reflect.DeepEqual(prev, read) && got != prev {
			t.Fatalf("intern(%+v) made a second copy of an equal consumer", read)
		}
		held[v.ID] = got
	}
	runtime.KeepAlive(held)
}

// TestInternerForgetsUnusedConsumers: a consumer no cached key refers to
// leaves the interner.
func TestInternerForgetsUnusedConsumers(t *testing.T) {
	var in interner
	for i := range 100 {
		in.intern(&keygate.Consumer{ID: string(rune('a' + i%26)), Username: "x", Tags: []string{"t"}})
	}
	deadline := time.Now().Add(5 * time.Second)
	for in.len() > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := in.len(); n > 0 {
		t.Fatalf("%d consumers held after no key refers to them", n)
	}
}
