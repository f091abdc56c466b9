package prefetch

import "unsafe"

// Lines asks the CPU to bring the two cache lines at addr into its
// caches without waiting for them: work that does not need them goes on
// meanwhile. Go has no portable way to say this.
//
//go:noescape
func Lines(addr unsafe.Pointer)
