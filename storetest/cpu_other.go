//go:build !unix

package storetest

import "time"

// processCPU is not read here: benchmarks report wall time only.
func processCPU() time.Duration { return 0 }
