package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a running keygate (serve): its standard output, and its log
// (standard error, one JSON object a line), shown when the test fails.
type process struct {
	cmd    *exec.Cmd
	out    lockedBuffer
	mu     sync.Mutex
	logs   []map[string]any // parsed log lines, in order
	raw    lockedBuffer     // the whole of standard error
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startProcess runs the keygate binary with args and env (KEY=value, on
// top of this environment without its KEYGATE_ variables) and stops it at
// the end of the test: SIGTERM, then SIGKILL if it has not exited in 20 s.
func startProcess(tb testing.TB, env []string, args ...string) *process {
	tb.Helper()
	p := &process{cmd: exec.Command(keygateBin, args...), exited: make(chan struct{})}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout = &p.out
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 64<<10), 4<<20)
		for scanner.Scan() {
			line := scanner.Bytes()
			p.raw.Write(append(line, '\n'))
			var entry map[string]any
			if json.Unmarshal(line, &entry) == nil {
				p.mu.Lock()
				p.logs = append(p.logs, entry)
				p.mu.Unlock()
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		p.stop()
		// A keygate built with -race reports a race on stderr (and exits 66).
		if strings.Contains(p.stderr(), "WARNING: DATA RACE") {
			tb.Errorf("the race detector found a data race in keygate %s", args[0])
		}
		if tb.Failed() {
			tb.Logf("keygate %s: %v\nstderr:\n%s", strings.Join(args, " "), p.err, p.raw.String())
		}
	})
	return p
}

// cleanEnv is this process's environment without KEYGATE_ variables, so
// that what a test sets is all keygate sees.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends SIGTERM, waits for the process to exit (SIGKILL after 20 s)
// and returns its exit status; nil once it has exited cleanly.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	return p.err
}

// kill ends the process with SIGKILL: no shutdown at all.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// waitLog waits until the process logs msg (its "msg" attribute) for the
// n-th time (n counts from 1) and returns that line; it fails the test if
// that takes longer than timeout or the process exits first.
func (p *process) waitLog(tb testing.TB, msg string, n int, timeout time.Duration) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if line := p.logged(msg, n); line != nil {
			return line
		}
		select {
		case <-p.exited:
			if line := p.logged(msg, n); line != nil {
				return line
			}
			tb.Fatalf("keygate exited (%v) before logging %q", p.err, msg)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("keygate did not log %q within %v", msg, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged returns the n-th log line with msg, or nil.
func (p *process) logged(msg string, n int) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range p.logs {
		if line["msg"] == msg {
			if n--; n == 0 {
				return line
			}
		}
	}
	return nil
}

// stderr is everything the process wrote to standard error so far.
func (p *process) stderr() string { return p.raw.String() }

// lockedBuffer is a bytes.Buffer safe for a writer and readers at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// exitCode is the exit status of a finished command (-1: it did not run).
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
