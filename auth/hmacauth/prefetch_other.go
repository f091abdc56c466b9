//go:build !amd64

package hmacauth

import "unsafe"

// prefetch does nothing where there is no assembly for it: the replay
// cache then waits for its slot, as it would anyway.
func prefetch(unsafe.Pointer) {}
