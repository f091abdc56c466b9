package redis

import (
	"testing"
	"time"
)

func TestPayloadWindowAcrossNodes(t *testing.T) {
	c, prefix := testClient(t)
	other := newClient(t) // another node's connection
	t.Cleanup(func() { other.Close() })
	a, b := NewPayloadWindow(c, prefix, 64, nil), NewPayloadWindow(other, prefix, 64, nil)
	until := time.Now().Add(time.Minute)
	steps := []struct {
		w    *PayloadWindow
		sess string
		seq  uint64
		want bool
	}{
		{a, "s1", 1, true}, {b, "s1", 1, false}, {b, "s2", 1, true}, {a, "s1", 5, true}, {b, "s1", 3, true},
		{a, "s1", 3, false}, {b, "s1", 5, false}, {a, "s1", 200, true}, {b, "s1", 136, false}, {b, "s1", 137, true},
		{a, "s1", 137, false}, {a, "s1", 0, false}, {a, "s1", MaxSharedSequence + 1, false},
	}
	for i, s := range steps {
		got, err := s.w.Accept(t.Context(), s.sess, s.seq, until)
		if err != nil {
			t.Fatal(err)
		}
		if got != s.want {
			t.Fatalf("step %d: Accept(%s, %d) = %v, want %v", i, s.sess, s.seq, got, s.want)
		}
	}
}
