package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --clock-file: now is the file's modification time, read at every call;
// a file that goes away leaves the clock where it was; a missing file is
// refused at start.
func TestFileClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	os.WriteFile(path, nil, 0o600)
	start := time.Date(2030, 1, 1, 0, 0, 0, 123, time.UTC)
	os.Chtimes(path, start, start)
	now, err := fileClock(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := now(); !got.Equal(start) {
		t.Fatalf("now = %v, want %v", got, start)
	}
	later := start.Add(36 * time.Hour)
	os.Chtimes(path, later, later)
	if got := now(); !got.Equal(later) {
		t.Fatalf("after Chtimes: now = %v, want %v", got, later)
	}
	os.Remove(path)
	if got := now(); !got.Equal(later) {
		t.Fatalf("file gone: now = %v, want the last time read, %v", got, later)
	}
	if _, err := fileClock(path); err == nil || !strings.Contains(err.Error(), "--clock-file") {
		t.Fatalf("missing file: %v, want an error naming --clock-file", err)
	}
}

func TestJobsIntervalMustNotBeNegative(t *testing.T) {
	m := quietMain(t.TempDir(), nil)
	m.Config.JobsInterval = -time.Second
	if err := m.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "--jobs-interval") {
		m.Close()
		t.Fatalf("err = %v, want one naming --jobs-interval", err)
	}
}
