//go:build !amd64

package keyauth

import "unsafe"

// prefetch does nothing where there is no assembly for it: lookups then
// wait for their record, as they would anyway.
func prefetch(unsafe.Pointer) {}
