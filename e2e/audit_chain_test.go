package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/keygate/keygate"
)

// Two nodes on one PostgreSQL store write at once: the audit trail is one
// chain (one order, no gaps, no forks) that keygate audit verify accepts;
// an entry edited in SQL afterwards is named.
func TestAuditChainTwoNodesPostgres(t *testing.T) {
	t.Parallel()
	url, schema := postgresStore(t)
	onPostgres := []string{"--store", url, "--store-schema", schema}
	a := startGatewayWith(t, onPostgres...)
	b := startGatewayWith(t, onPostgres...)
	const each = 25
	var wg sync.WaitGroup
	for name, g := range map[string]*gateway{"a": a, "b": b} {
		for w := range 2 {
			wg.Go(func() {
				for i := range each {
					c, err := g.admin.CreateConsumer(context.Background(), &keygate.Consumer{Username: fmt.Sprintf("%s%d-%d", name, w, i)})
					if err == nil {
						_, err = g.admin.UpdateConsumer(context.Background(), c.ID, map[string]any{"tags": []string{"t"}})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()

	useCLIOn(t, b)
	out := admin(t, "audit", "verify")
	if !strings.Contains(out, "audit trail OK") {
		t.Fatalf("verify: %s", out)
	}
	var head keygate.AuditHead
	if err := json.Unmarshal([]byte(admin(t, "audit", "head")), &head); err != nil {
		t.Fatal(err)
	}
	if head.Seq < 4*each*2 {
		t.Errorf("head %+v, want at least %d entries", head, 4*each*2)
	}
	lines := strings.Split(strings.TrimSpace(admin(t, "audit", "export", "--format", "jsonl")), "\n")
	var last keygate.AuditEvent
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || int64(len(lines)) != head.Seq || last.Hash != head.Hash {
		t.Errorf("export: %d lines, last %+v (%v), head %+v", len(lines), last, err, head)
	}
	// Requests through the admin API carry their source address.
	if last.Source != "127.0.0.1" || last.Actor != "admin:bootstrap" {
		t.Errorf("last entry's source %q, actor %q", last.Source, last.Actor)
	}

	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	table := pgx.Identifier{schema, "audit_events"}.Sanitize()
	if _, err := conn.Exec(context.Background(), `UPDATE `+table+` SET actor = 'admin:mallory' WHERE seq = 7`); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "--on-server"},
		{"audit", "verify", "--store", url, "--store-schema", schema}} {
		_, stderr, err := runAdmin(t, "", args...)
		if err == nil || !strings.Contains(stderr, "entry 7: edited") {
			t.Errorf("%v after an edit: %v %q", args, err, stderr)
		}
	}
	// A removed tail is found against the head saved before.
	if _, err := conn.Exec(context.Background(), `UPDATE `+table+` SET actor = 'admin:bootstrap' WHERE seq = 7;
		DELETE FROM `+table+` WHERE seq > 50`); err != nil {
		t.Fatal(err)
	}
	admin(t, "audit", "verify")
	_, stderr, err := runAdmin(t, "", "audit", "verify", "--anchor-seq", fmt.Sprint(head.Seq), "--anchor-hash", head.Hash)
	if err == nil || !strings.Contains(stderr, "truncated") {
		t.Errorf("verify against the head after the tail was removed: %v %q", err, stderr)
	}
}

// A backup restored into a new data dir holds the same chain, which
// verifies against the head saved before the backup, and goes on from it.
func TestAuditChainAfterRestore(t *testing.T) {
	t.Parallel()
	rootFile, _ := writeRootKey(t)
	dir := t.TempDir()
	g := startGatewayEnv(t, noRootKeyEnv, "--data-dir", dir, "--root-key-file", rootFile)
	for i := range 5 {
		g.consumer(t, fmt.Sprint("c", i))
	}
	useCLIOn(t, g)
	anchor := filepath.Join(t.TempDir(), "head.json")
	if err := os.WriteFile(anchor, []byte(admin(t, "audit", "head")), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "keygate.backup")
	if out, err := runCLI(t, "backup", "--data-dir", dir, "--root-key-file", rootFile, "--out", file); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if out, err := runCLI(t, "restore", file, "--data-dir", restored, "--root-key-file", rootFile, "--quiet"); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	r := startGatewayEnv(t, noRootKeyEnv, "--data-dir", restored, "--root-key-file", rootFile)
	r.consumer(t, "after-restore")
	useCLIOn(t, r)
	if out := admin(t, "audit", "verify", "--anchor", anchor); !strings.Contains(out, "audit trail OK") {
		t.Errorf("verify after restore: %s", out)
	}
	// Read directly from the restored data dir, without the admin API.
	if out, err := runCLI(t, "audit", "verify", "--data-dir", restored, "--anchor", anchor); err != nil || !strings.Contains(out, "audit trail OK") {
		t.Errorf("verify --data-dir after restore: %v %s", err, out)
	}
	if out, err := runCLI(t, "audit", "verify", "--data-dir", t.TempDir()); err == nil || !strings.Contains(out, "no keygate database") {
		t.Errorf("verify --data-dir of an empty dir: %v %s", err, out)
	}
}

// keygate audit export --follow streams entries as they are sealed, from
// --after on: a sink restarted with the last seq it got misses nothing.
func TestAuditExportFollow(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	useCLIOn(t, g)
	var head keygate.AuditHead
	if err := json.Unmarshal([]byte(admin(t, "audit", "head")), &head); err != nil {
		t.Fatal(err)
	}
	cmd := cliCommand(t, "audit", "export", "--after", fmt.Sprint(head.Seq), "--follow", "20ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	for i := range 3 {
		g.consumer(t, fmt.Sprint("followed-", i))
	}
	dec := json.NewDecoder(stdout)
	for i := range 3 {
		var e keygate.AuditEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		if e.Seq != head.Seq+int64(i)+1 || e.Action != "consumer.created" || e.Hash == "" {
			t.Errorf("streamed entry %d: %+v", i, e)
		}
	}
}
