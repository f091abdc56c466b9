package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keygate/keygate/keyring"
	"github.com/keygate/keygate/metrics"
	goredis "github.com/redis/go-redis/v9"
)

// /readyz names the checks that failed: Redis unreachable here.
func TestReadyzChecks(t *testing.T) {
	redis := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { redis.Close() })
	m := &Main{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.New(),
		Keyring: &keyring.Manager{Ring: &keyring.Keyring{}}, redis: redis}
	m.ready.Store(true)
	for _, tc := range []struct {
		name   string
		edit   func()
		status int
		failed map[string]string
	}{
		{"Redis unreachable", func() {}, http.StatusServiceUnavailable, map[string]string{"redis": "unreachable"}},
		{"and warming", func() { m.ready.Store(false) }, http.StatusServiceUnavailable, map[string]string{"redis": "unreachable", "cache": "warming"}},
		{"ready", func() {
			m.ready.Store(true)
			m.redis = nil
			m.readiness.checked = m.readiness.checked.AddDate(-1, 0, 0)
		}, http.StatusOK, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			w := httptest.NewRecorder()
			m.serveReady(w, httptest.NewRequest("GET", "/readyz", nil))
			var body struct {
				Status string            `json:"status"`
				Failed map[string]string `json:"failed"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || len(body.Failed) != len(tc.failed) {
				t.Fatalf("%d %s, want %d failing %v", w.Code, w.Body, tc.status, tc.failed)
			}
			for k, v := range tc.failed {
				if body.Failed[k] != v {
					t.Errorf("failed[%s] = %q, want %q", k, body.Failed[k], v)
				}
			}
		})
	}
}

// The access log's writer never blocks a request: past its queue, lines
// are dropped and counted; Close writes what was queued.
func TestAsyncWriterDropsWhenBehind(t *testing.T) {
	release, busy := make(chan struct{}), make(chan struct{}, 8)
	var written [][]byte
	w := writerFunc(func(p []byte) (int, error) {
		busy <- struct{}{}
		<-release
		written = append(written, append([]byte(nil), p...))
		return len(p), nil
	})
	dropped := 0
	a := newAsyncWriter(w, 2, func(n int) { dropped += n })
	a.Write([]byte("a\n"))
	<-busy // the writer holds a
	for _, line := range []string{"b\n", "c\n", "d\n", "e\n"} {
		a.Write([]byte(line)) // two queued, the rest dropped
	}
	close(release)
	a.Close()
	if dropped != 2 || len(written) != 3 || string(written[0]) != "a\n" {
		t.Errorf("dropped %d, written %q; want 2 dropped, a b c written", dropped, written)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
