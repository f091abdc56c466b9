//go:build !unix

package cpubench

import "time"

// Process is not read here: benchmarks report wall time only.
func Process() time.Duration { return 0 }
