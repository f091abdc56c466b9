package e2e

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/postgres"
	"github.com/keygate/keygate/sqlite"
)

// A node killed with SIGKILL in the middle of writes loses none it
// acknowledged: each was committed (PostgreSQL; SQLite's WAL) before the
// API answered.
func TestKilledNodeLosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		find := killDuringWrites(t, "--data-dir", dir)
		db, err := sqlite.Open(context.Background(), filepath.Join(dir, dbFile), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		find(db)
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := postgresStore(t)
		find := killDuringWrites(t, "--store", url, "--store-schema", schema)
		db, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		find(db)
	})
}

// killDuringWrites starts keygate with args, creates consumers through its
// admin API from four clients, kills it with SIGKILL once 20 were
// acknowledged, and returns a check that every acknowledged consumer is in
// a store.
func killDuringWrites(t *testing.T, args ...string) (check func(keygate.ConsumerStore)) {
	g := startGatewayWith(t, args...)
	api := g.admin

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
	// Kill once enough writes were acknowledged for the test to show
	// something, however busy the machine, and with more still in flight.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acknowledged)
		mu.Unlock()
		if n >= 20 {
			break
		}
	}
	g.proc.kill()
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
