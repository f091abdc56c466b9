package main

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// fileClock is the clock of --clock-file, for end-to-end tests of a keygate
// process: now is the file's modification time, so a test that runs the
// binary moves the clock with os.Chtimes instead of sleeping. It is read on
// every call (a stat), which only a test can afford.
func fileClock(path string) (func() time.Time, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--clock-file: %w", err)
	}
	var last atomic.Int64 // the last time read, for when a stat fails
	last.Store(fi.ModTime().UnixNano())
	return func() time.Time {
		if fi, err := os.Stat(path); err == nil {
			last.Store(fi.ModTime().UnixNano())
		}
		return time.Unix(0, last.Load())
	}, nil
}
