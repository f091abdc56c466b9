//go:build !amd64

package prefetch

import "unsafe"

// Lines does nothing where there is no assembly for it: lookups then
// wait for their record, as they would anyway.
func Lines(unsafe.Pointer) {}
