package sessioncrypto

import "sync"

// WindowSize is how far behind the highest sequence number seen an
// envelope may arrive (out of order, from concurrent requests) and still
// be accepted once.
const WindowSize = 1024

// Window refuses a sequence number seen before, as IPsec's and DTLS's
// anti-replay windows do: it remembers the highest number accepted and
// which of the WindowSize numbers below it were; a number further behind is
// refused, as it can no longer be told apart from a replay. It is safe for
// concurrent use. The zero Window is ready.
type Window struct {
	mu   sync.Mutex
	top  uint64                  // highest accepted; 0: none yet
	bits [WindowSize / 64]uint64 // bit (n % WindowSize) set: n accepted, for n in (top-WindowSize, top]
}

// Accept records seq and reports whether it is new: false for 0, for a
// number accepted before, and for one WindowSize or more behind the highest.
func (w *Window) Accept(seq uint64) bool {
	if seq == 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case seq > w.top:
		if seq-w.top >= WindowSize {
			w.bits = [WindowSize / 64]uint64{}
		} else {
			for n := w.top + 1; n < seq; n++ { // numbers skipped over: not seen
				w.clear(n)
			}
		}
		w.top = seq
		w.set(seq)
		return true
	case w.top-seq >= WindowSize:
		return false
	case w.isSet(seq):
		return false
	}
	w.set(seq)
	return true
}

func (w *Window) set(n uint64)        { i := n % WindowSize; w.bits[i/64] |= 1 << (i % 64) }
func (w *Window) clear(n uint64)      { i := n % WindowSize; w.bits[i/64] &^= 1 << (i % 64) }
func (w *Window) isSet(n uint64) bool { i := n % WindowSize; return w.bits[i/64]&(1<<(i%64)) != 0 }
