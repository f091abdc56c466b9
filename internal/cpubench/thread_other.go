//go:build !linux

package cpubench

import "time"

// Thread is 0 here: the thread's CPU time is read on Linux only.
func Thread() time.Duration { return 0 }
