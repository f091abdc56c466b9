//go:build unix

package cpubench

import (
	"syscall"
	"time"
)

// Process is the CPU time (user + system) of the whole process: for work
// spread over goroutines on other threads (a database driver's), which
// Thread does not see.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
