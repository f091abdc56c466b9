package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/sqlite"
)

// runKeygate starts this test binary as `keygate args...` (see TestMain),
// waits until its admin API answers, and returns the process and the
// admin API's URL.
func runKeygate(tb testing.TB, args ...string) (*exec.Cmd, string) {
	tb.Helper()
	admin, proxy := freePort(tb), freePort(tb)
	cmd := exec.Command(os.Args[0], append(args, "--admin-listen", admin, "--proxy-listen", proxy, "--log-level", "error")...)
	cmd.Env = append(os.Environ(), "KEYGATE_TEST_RUN_MAIN=1", "KEYGATE_ADMIN_TOKEN="+testAdminToken, "KEYGATE_ROOT_KEY="+testRootKey)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + admin
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd, url
		}
		if time.Now().After(deadline) {
			tb.Fatalf("keygate did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// A node killed with SIGKILL in the middle of writes loses none it
// acknowledged: each was committed (PostgreSQL; SQLite's WAL) before the
// API answered.
func TestKilledNodeLosesNoAcknowledgedWrite(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		find := killDuringWrites(t, "serve", "--data-dir", dir)
		db, err := sqlite.Open(context.Background(), filepath.Join(dir, dbFile), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		find(db)
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := postgresStore(t)
		find := killDuringWrites(t, "serve", "--store", url, "--store-schema", schema)
		db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		find(db)
	})
}

// killDuringWrites starts keygate with args, creates consumers through its
// admin API from four clients, kills it with SIGKILL half a second in, and
// returns a check that every acknowledged consumer is in a store.
func killDuringWrites(t *testing.T, args ...string) (check func(keygate.ConsumerStore)) {
	cmd, adminURL := runKeygate(t, args...)
	api := client.New(adminURL, testAdminToken)

	var mu sync.Mutex
	var acknowledged []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := keygate.NewConsumer()
				c.Username = "w" + string(rune('a'+w)) + "-" + strconv.Itoa(i)
				if _, err := api.CreateConsumer(context.Background(), c); err != nil {
					return // the node is gone
				}
				mu.Lock()
				acknowledged = append(acknowledged, c.Username)
				mu.Unlock()
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if len(acknowledged) < 10 {
		t.Fatalf("only %d writes acknowledged before the kill: the test shows little", len(acknowledged))
	}

	return func(db keygate.ConsumerStore) {
		for _, name := range acknowledged {
			if _, err := db.FindConsumer(context.Background(), name); err != nil {
				t.Errorf("acknowledged consumer %s: %v", name, err)
			}
		}
		t.Logf("%d acknowledged writes, all found after SIGKILL", len(acknowledged))
	}
}
