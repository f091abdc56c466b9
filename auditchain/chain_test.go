package auditchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

// chain returns n sealed events after legacy unchained ones.
func chain(legacy, n int) []*keygate.AuditEvent {
	var out []*keygate.AuditEvent
	prev := ""
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for i := range legacy + n {
		e := &keygate.AuditEvent{Seq: int64(i + 1), ID: fmt.Sprintf("id-%d", i+1), At: at.Add(time.Duration(i) * time.Second),
			Actor: "admin:ops", Source: "192.0.2.7", Action: "key.updated", TargetKind: "key", TargetID: fmt.Sprintf("k%d", i%3),
			Result: keygate.AuditOK, Changes: []keygate.AuditChange{{Field: "name", Before: "a", After: fmt.Sprint("b", i)}}}
		if i >= legacy {
			Seal(e, prev)
			prev = e.Hash
		}
		out = append(out, e)
	}
	return out
}

func events(es []*keygate.AuditEvent) iter.Seq2[*keygate.AuditEvent, error] {
	return func(yield func(*keygate.AuditEvent, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func clone(es []*keygate.AuditEvent) []*keygate.AuditEvent {
	out := make([]*keygate.AuditEvent, len(es))
	for i, e := range es {
		c := *e
		c.Changes = slices.Clone(e.Changes)
		out[i] = &c
	}
	return out
}

func TestVerifyClean(t *testing.T) {
	for _, tt := range []struct{ legacy, n int }{{0, 0}, {0, 1}, {0, 8}, {3, 0}, {3, 5}} {
		es := chain(tt.legacy, tt.n)
		r, err := Verify(events(es), nil)
		if err != nil || !r.OK() {
			t.Fatalf("%+v: %+v %v", tt, r.Problem, err)
		}
		if r.Entries != int64(tt.legacy+tt.n) || r.Legacy != int64(tt.legacy) {
			t.Errorf("%+v: report %+v", tt, r)
		}
		if len(es) > 0 && (r.Head.Seq != es[len(es)-1].Seq || r.Head.Hash != es[len(es)-1].Hash) {
			t.Errorf("%+v: head %+v", tt, r.Head)
		}
		head := r.Head
		if r, _ := Verify(events(es), &head); !r.OK() {
			t.Errorf("%+v: against its own head: %v", tt, r.Problem)
		}
	}
}

// Each kind of tampering is found, at the entry where it happened.
func TestVerifyTampering(t *testing.T) {
	renumber := func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
		for i, e := range es {
			e.Seq = int64(i + 1)
		}
		return es
	}
	for _, tt := range []struct {
		name   string
		legacy int
		tamper func(es []*keygate.AuditEvent) []*keygate.AuditEvent
		kind   Kind
		seq    int64
	}{
		{"edit actor", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[3].Actor = "admin:nobody"; return es }, Edited, 4},
		{"edit time", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			es[3].At = es[3].At.Add(time.Microsecond)
			return es
		}, Edited, 4},
		{"edit change value", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[5].Changes[0].After = "x"; return es }, Edited, 6},
		{"drop a change", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[5].Changes = nil; return es }, Edited, 6},
		{"edit first", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[0].Reason = "x"; return es }, Edited, 1},
		{"edit last", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[7].TargetID = "x"; return es }, Edited, 8},
		{"edit and reseal", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			es[3].Actor = "admin:nobody"
			Seal(es[3], es[3].PrevHash)
			return es
		}, Edited, 4},
		{"hashes removed", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { es[4].Hash, es[4].PrevHash = "", ""; return es }, Edited, 5},
		{"delete", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { return slices.Delete(es, 3, 4) }, Removed, 5},
		{"delete first", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { return es[1:] }, Removed, 2},
		{"delete and renumber", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { return renumber(slices.Delete(es, 3, 4)) }, Removed, 4},
		{"delete two and renumber", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { return renumber(slices.Delete(es, 2, 4)) }, Removed, 3},
		{"swap", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			es[3], es[4] = es[4], es[3]
			return renumber(es)
		}, Reordered, 4},
		{"move back", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			e := es[1]
			es = slices.Insert(slices.Delete(es, 1, 2), 5, e)
			return renumber(es)
		}, Removed, 2},
		{"insert forged", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			f := &keygate.AuditEvent{ID: "forged", Actor: "admin:ops", Action: "key.created", PrevHash: "0000", Hash: "1111"}
			return renumber(slices.Insert(es, 3, f))
		}, Inserted, 4},
		{"insert sealed", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			f := &keygate.AuditEvent{Seq: 4, ID: "forged", Actor: "admin:ops", Action: "key.created"}
			Seal(f, es[2].Hash)
			es = slices.Insert(es, 3, f)
			for _, e := range es[4:] {
				e.Seq++
			}
			return es
		}, Inserted, 4},
		{"duplicate seq", 0, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			f := *es[3]
			f.ID = "forged"
			return slices.Insert(es, 4, &f)
		}, Inserted, 4},
		{"legacy after the chain", 2, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			es[5].Hash, es[5].PrevHash = "", ""
			return es
		}, Edited, 6},
		{"legacy entry deleted", 3, func(es []*keygate.AuditEvent) []*keygate.AuditEvent { return slices.Delete(es, 1, 2) }, Removed, 3},
		{"chain start deleted and hidden as legacy", 2, func(es []*keygate.AuditEvent) []*keygate.AuditEvent {
			es[2].Hash = ""
			return es
		}, Edited, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es := tt.tamper(clone(chain(tt.legacy, 8-tt.legacy)))
			r, err := Verify(events(es), nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatalf("tampering not found")
			}
			if r.Problem.Kind != tt.kind || r.Problem.Seq != tt.seq {
				t.Errorf("problem %v, want %s at %d", r.Problem, tt.kind, tt.seq)
			}
		})
	}
}

// A removed tail is found only against an anchor exported before.
func TestVerifyTruncated(t *testing.T) {
	es := chain(0, 8)
	anchor := keygate.AuditHead{Seq: 8, Hash: es[7].Hash}
	if r, _ := Verify(events(es[:6]), nil); !r.OK() {
		t.Fatalf("without an anchor: %v", r.Problem)
	}
	r, _ := Verify(events(es[:6]), &anchor)
	if r.OK() || r.Problem.Kind != Truncated || r.Problem.Seq != 6 {
		t.Errorf("truncated: %+v", r.Problem)
	}
	// An older anchor still holds as the chain grows.
	old := keygate.AuditHead{Seq: 5, Hash: es[4].Hash}
	if r, _ := Verify(events(es), &old); !r.OK() {
		t.Errorf("older anchor: %v", r.Problem)
	}
	// A chain rewritten from an entry before the anchor on is found.
	forged := clone(es)
	forged[2].Actor = "x"
	prev := forged[1].Hash
	for _, e := range forged[2:] {
		Seal(e, prev)
		prev = e.Hash
	}
	r, _ = Verify(events(forged), &old)
	if r.OK() || r.Problem.Kind != Edited || r.Problem.Seq != 5 {
		t.Errorf("rewritten: %+v", r.Problem)
	}
}

func TestVerifyReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Verify(func(yield func(*keygate.AuditEvent, error) bool) { yield(nil, boom) }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}

// The encoding is pinned: auditors re-verify with scripts written from
// docs/audit.md, so it must never change silently.
func TestEncodeGolden(t *testing.T) {
	e := &keygate.AuditEvent{Seq: 7, ID: "0190-x", At: time.UnixMicro(1700000000123456), Actor: "admin:ops", Source: "::1",
		Action: "consumer.updated", TargetKind: "consumer", TargetID: "c1", Reason: "ticket 4", Result: "ok",
		Changes: []keygate.AuditChange{{Field: "username", Before: "ä", After: "b"}}, PrevHash: "ab"}
	want := "16:keygate.audit.v1,1:7,6:0190-x,16:1700000000123456,9:admin:ops,3:::1,16:consumer.updated,8:consumer,2:c1,8:ticket 4,2:ok,1:1,8:username,2:ä,1:b,2:ab,"
	if got := string(Encode(e)); got != want {
		t.Errorf("Encode\n got %s\nwant %s", got, want)
	}
	if got := Hash(e); got != "7b0e8f4b92b88babe71d0f0048c45e9839aacfb1ecebfa19a9e5daf60777d0a3" { // python3 hashlib.sha256 of want
		t.Errorf("Hash %s", got)
	}
}

func TestExport(t *testing.T) {
	es := chain(1, 3)
	var buf bytes.Buffer
	n, err := Export(&buf, events(es))
	if err != nil || n != 4 {
		t.Fatalf("export %d %v", n, err)
	}
	var back []*keygate.AuditEvent
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var e keygate.AuditEvent
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		back = append(back, &e)
	}
	// What is exported verifies on its own.
	if r, err := Verify(events(back), nil); err != nil || !r.OK() || r.Entries != 4 {
		t.Errorf("exported chain: %+v %v", r, err)
	}
}

// scripts/audit-verify.py, the auditors' re-verification from
// docs/audit.md, agrees with Verify on an export.
func TestPythonVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	es := chain(2, 6)
	es[3].Reason = "ticket \"42\" ünïcode"
	es[3].At = es[3].At.Add(-123 * time.Microsecond)
	Seal(es[3], es[2].Hash) // es[2] is the chain's first entry
	prev := es[3].Hash
	for _, e := range es[4:] {
		Seal(e, prev)
		prev = e.Hash
	}
	if r, _ := Verify(events(es), nil); !r.OK() {
		t.Fatalf("fixture: %v", r.Problem)
	}
	run := func(es []*keygate.AuditEvent) (string, error) {
		var buf bytes.Buffer
		if _, err := Export(&buf, events(es)); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, "../scripts/audit-verify.py")
		cmd.Stdin = &buf
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(es)
	if err != nil || !strings.Contains(out, "ok: 8 entries, head "+prev) {
		t.Errorf("clean export: %v\n%s", err, out)
	}
	tampered := clone(es)
	tampered[5].Actor = "admin:mallory"
	if out, err := run(tampered); err == nil || !strings.Contains(out, "entry 6: edited") {
		t.Errorf("tampered export: %v\n%s", err, out)
	}
}

// growing is a Reader whose chain grows while it is read.
type growing struct {
	mu sync.Mutex
	es []*keygate.AuditEvent
}

func (g *growing) AuditChain(_ context.Context, after int64, limit int) ([]*keygate.AuditEvent, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*keygate.AuditEvent
	for _, e := range g.es {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// Follow streams what is there after the given seq, then what is appended,
// across pages, until its context ends.
func TestFollow(t *testing.T) {
	all := chain(0, PageSize+10)
	g := &growing{es: all[:PageSize+5]}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []int64
	for e, err := range Follow(ctx, g, 3, time.Millisecond) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Seq)
		if e.Seq == PageSize+5 {
			g.mu.Lock()
			g.es = all
			g.mu.Unlock()
		}
		if e.Seq == PageSize+10 {
			cancel()
		}
	}
	if len(got) != PageSize+7 || got[0] != 4 || got[len(got)-1] != PageSize+10 {
		t.Errorf("followed %d events, %d to %d", len(got), got[0], got[len(got)-1])
	}
}
