package auditchain

import (
	"fmt"
	"iter"

	"github.com/keygate/keygate"
)

// Kind says what is wrong with the chain at an event.
type Kind string

const (
	Edited    Kind = "edited"    // its fields or hashes are not what was sealed
	Removed   Kind = "removed"   // events before it are missing
	Reordered Kind = "reordered" // it links to an event that is not the one before it
	Inserted  Kind = "inserted"  // it was never part of the chain
	Truncated Kind = "truncated" // events after it are missing (found only against an anchor)
)

// Problem is the first thing wrong with a chain.
type Problem struct {
	Seq    int64  `json:"seq"`
	ID     string `json:"id,omitempty"`
	Kind   Kind   `json:"kind"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit chain: entry %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is the outcome of Verify.
type Report struct {
	// Entries is how many events were read, Legacy how many of them are
	// older than the chain (migration 0024's anchor) and so unchecked.
	Entries int64 `json:"entries"`
	Legacy  int64 `json:"legacy"`
	// Head is the last event read.
	Head keygate.AuditHead `json:"head"`
	// Problem is the first thing wrong, nil when the chain verifies.
	Problem *Problem `json:"problem,omitempty"`
}

// OK says whether the chain verified.
func (r *Report) OK() bool { return r.Problem == nil }

// Verify checks events, which must come in Seq order (as the store reads
// them), and reports the first one that breaks the chain and how. When
// anchor is not nil (a head exported earlier, see keygate audit head), the
// chain must still hold that event with that hash: without one a removed
// tail cannot be told from a chain that ended there.
//
// An error is returned only when events cannot be read.
func Verify(events iter.Seq2[*keygate.AuditEvent, error], anchor *keygate.AuditHead) (Report, error) {
	var (
		r       Report
		a       *keygate.AuditEvent // the last event that verified
		pending *keygate.AuditEvent // read, not checked yet: checking needs the one after it
		seen    = map[string]int64{}
		stop    bool
	)
	check := func(b, c *keygate.AuditEvent) {
		if p := link(a, b, c, seen); p != nil {
			r.Problem, stop = p, true
			return
		}
		if b.Hash == "" {
			r.Legacy++
		} else {
			seen[b.Hash] = b.Seq
		}
		r.Head = keygate.AuditHead{Seq: b.Seq, Hash: b.Hash, Anchor: r.Legacy}
		if anchor != nil && b.Seq == anchor.Seq && b.Hash != anchor.Hash {
			r.Problem, stop = &Problem{Seq: b.Seq, ID: b.ID, Kind: Edited, Detail: "its hash is not the anchor's: the chain was rewritten from here or before"}, true
		}
		a = b
	}
	for e, err := range events {
		if err != nil {
			return r, err
		}
		r.Entries++
		if pending != nil {
			check(pending, e)
			if stop {
				return r, nil
			}
		}
		pending = e
	}
	if pending != nil {
		if check(pending, nil); stop {
			return r, nil
		}
	}
	if anchor != nil && r.Head.Seq < anchor.Seq {
		seq := r.Head.Seq
		r.Problem = &Problem{Seq: seq, Kind: Truncated,
			Detail: fmt.Sprintf("the chain ends at entry %d but the anchor names entry %d", seq, anchor.Seq)}
	}
	return r, nil
}

// link checks b, which comes after a (nil: b is the first event) and
// before c (nil: b is the last), and classifies what is wrong.
func link(a, b, c *keygate.AuditEvent, seen map[string]int64) *Problem {
	problem := func(seq int64, kind Kind, format string, args ...any) *Problem {
		id := b.ID
		if seq != b.Seq {
			id = ""
		}
		return &Problem{Seq: seq, ID: id, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	}
	legacy := b.Hash == "" && b.PrevHash == ""
	var prevSeq int64
	var prevHash string
	chained := false
	if a != nil {
		prevSeq, prevHash, chained = a.Seq, a.Hash, a.Hash != ""
	}
	switch {
	case b.Seq == prevSeq:
		return problem(b.Seq, Inserted, "a second entry numbered %d", b.Seq)
	case b.Seq < prevSeq:
		return problem(b.Seq, Reordered, "entry %d comes after entry %d", b.Seq, prevSeq)
	case b.Seq > prevSeq+1:
		return problem(b.Seq, Removed, "entries %d to %d are missing", prevSeq+1, b.Seq-1)
	case legacy && !chained:
		return nil // older than the chain: nothing to check but the numbering
	case legacy:
		return problem(b.Seq, Edited, "its hashes were removed")
	}
	selfOK := Hash(b) == b.Hash
	if selfOK && b.PrevHash == prevHash {
		return nil
	}
	switch {
	case a != nil && !chained && b.PrevHash != "":
		return problem(a.Seq, Edited, "its hashes were removed (entry %d was sealed after a chained entry)", b.Seq)
	case a != nil && a.PrevHash != "" && b.PrevHash == a.PrevHash:
		return problem(a.Seq, Inserted, "entry %d links to the entry before it, so entry %d was never part of the chain", b.Seq, a.Seq)
	case b.PrevHash == prevHash:
		return problem(b.Seq, Edited, "its fields are not what was sealed")
	case c != nil && b.PrevHash == c.Hash && b.PrevHash != "":
		return problem(b.Seq, Reordered, "it follows entry %d in the chain, which comes after it", c.Seq)
	case seen[b.PrevHash] != 0:
		return problem(b.Seq, Reordered, "it follows entry %d in the chain, not entry %d", seen[b.PrevHash], prevSeq)
	case c != nil && c.PrevHash == prevHash && prevHash != "":
		return problem(b.Seq, Inserted, "entry %d links to entry %d, so entry %d was never part of the chain", c.Seq, prevSeq, b.Seq)
	case selfOK && a != nil:
		return problem(a.Seq, Edited, "entry %d was not sealed after it: it was edited and sealed again, or replaced", b.Seq)
	case c != nil && c.PrevHash == b.Hash:
		return problem(b.Seq, Removed, "the entry it follows in the chain is missing (the entries after it were renumbered)")
	case b.PrevHash == "" && chained:
		return problem(b.Seq, Edited, "its link to entry %d was removed", prevSeq)
	default:
		return problem(b.Seq, Edited, "its fields or hashes are not what was sealed")
	}
}
