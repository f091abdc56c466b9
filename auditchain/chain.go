package auditchain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"time"

	"github.com/keygate/keygate"
)

// Version is the first field of every encoding, so that a later encoding
// can never be confused with this one.
const Version = "keygate.audit.v1"

// Encode returns the canonical encoding of e, which Hash hashes: every
// field below, in this order, as a netstring (<decimal byte length>:<bytes>,).
// Numbers are decimal, the time is microseconds since the Unix epoch.
//
//	version, seq, id, at, actor, source, action, target_kind, target_id,
//	reason, result, number of changes, then field, before, after of each
//	change, prev_hash
//
// Hash itself is not encoded.
func Encode(e *keygate.AuditEvent) []byte {
	b := make([]byte, 0, 256)
	b = netstring(b, Version)
	b = netstring(b, strconv.FormatInt(e.Seq, 10))
	b = netstring(b, e.ID)
	b = netstring(b, strconv.FormatInt(e.At.UnixMicro(), 10))
	for _, s := range []string{e.Actor, e.Source, e.Action, e.TargetKind, e.TargetID, e.Reason, e.Result} {
		b = netstring(b, s)
	}
	b = netstring(b, strconv.Itoa(len(e.Changes)))
	for _, c := range e.Changes {
		b = netstring(netstring(netstring(b, c.Field), c.Before), c.After)
	}
	return netstring(b, e.PrevHash)
}

func netstring(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	b = append(b, s...)
	return append(b, ',')
}

// Hash returns the lowercase hex SHA-256 of Encode(e).
func Hash(e *keygate.AuditEvent) string {
	sum := sha256.Sum256(Encode(e))
	return hex.EncodeToString(sum[:])
}

// Seal links e to the event before it, whose hash is prev ("" for the first
// event of the chain), and sets e.Hash. e.Seq must be set.
func Seal(e *keygate.AuditEvent, prev string) {
	e.PrevHash = prev
	e.Hash = Hash(e)
}

// Reader reads the chain in Seq order; keygate.AuditStore and the admin
// API's client both are one.
type Reader interface {
	AuditChain(ctx context.Context, after int64, limit int) ([]*keygate.AuditEvent, error)
}

// PageSize is how many events Events reads at a time.
const PageSize = 1000

// Events returns every event r holds, in Seq order, read a page at a time.
// It stops at the first error, which it yields.
func Events(ctx context.Context, r Reader) iter.Seq2[*keygate.AuditEvent, error] {
	return read(ctx, r, 0, 0)
}

// Follow returns the events with Seq > after, as Events does, then goes on
// with those appended later, looking every interval, until ctx ends (which
// it does not yield as an error). A consumer that keeps the last Seq it
// handled resumes from there without a gap: this is how the trail is
// streamed to a sink (keygate audit export --follow | a syslog forwarder).
func Follow(ctx context.Context, r Reader, after int64, interval time.Duration) iter.Seq2[*keygate.AuditEvent, error] {
	return read(ctx, r, after, interval)
}

func read(ctx context.Context, r Reader, after int64, interval time.Duration) iter.Seq2[*keygate.AuditEvent, error] {
	return func(yield func(*keygate.AuditEvent, error) bool) {
		var t *time.Ticker
		if interval > 0 {
			t = time.NewTicker(interval)
			defer t.Stop()
		}
		for {
			page, err := r.AuditChain(ctx, after, PageSize)
			if err != nil {
				if interval > 0 && ctx.Err() != nil {
					return
				}
				yield(nil, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(page) == PageSize {
				continue
			}
			if interval == 0 {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
}

// Export writes events as JSON lines, chain fields included, as it reads
// them: the output of a large trail is never held in memory.
func Export(w io.Writer, events iter.Seq2[*keygate.AuditEvent, error]) (n int64, err error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for e, err := range events {
		if err != nil {
			return n, err
		}
		if err := enc.Encode(e); err != nil {
			return n, fmt.Errorf("auditchain: export: %w", err)
		}
		n++
	}
	return n, nil
}
