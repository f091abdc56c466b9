// Package cpubench times benchmarks in the CPU time of the benchmark's
// thread as well as in wall time: on a machine shared with other work, the
// wall time per op says as much about the others as about the code.
package cpubench

import (
	"runtime"
	"testing"
	"time"
)

// PerOp locks the benchmark to its thread and returns what reports
// cpu-ns/op after the loop: the thread's CPU time per iteration, less the
// durations in untimed (work done outside the timer, added up by the
// benchmark).
func PerOp(b *testing.B, untimed ...*time.Duration) func() {
	runtime.LockOSThread()
	start := Thread()
	return func() {
		cpu := Thread() - start
		runtime.UnlockOSThread()
		for _, u := range untimed {
			cpu -= *u
		}
		if start > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

// PerByte is PerOp for a benchmark over inputs of n bytes, which reports
// ns/byte of wall time and cpu-ns/byte too: what says whether a parser is
// linear with a small constant.
func PerByte(b *testing.B, n int) func() {
	runtime.LockOSThread()
	start := Thread()
	return func() {
		cpu := Thread() - start
		runtime.UnlockOSThread()
		ops := float64(b.N)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops/float64(n), "ns/byte")
		if start > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/ops, "cpu-ns/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/ops/float64(n), "cpu-ns/byte")
		}
	}
}
