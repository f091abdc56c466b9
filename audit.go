package keygate

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AuditEvent records one transition of a stored record: who did what to
// which record, when and why. Stores write it in the same transaction as
// the change, so no transition goes unrecorded. It never holds a secret.
//
// Events form a hash chain (see package auditchain): Seq numbers them
// without gaps in the one order they were appended, and Hash covers the
// event's fields and PrevHash, the hash of the event before it. Events
// older than the chain (migration 0024) have Seq but no hashes.
type AuditEvent struct {
	Seq        int64     `json:"seq"`
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`            // admin:<token name>, key:<key id>, leak-report, system:lifecycle, system
	Source     string    `json:"source,omitempty"` // the client's IP address, for requests to the admin API
	Action     string    `json:"action"`           // <kind>.<verb>, e.g. key.revoked
	TargetKind string    `json:"target_kind"`
	TargetID   string    `json:"target_id"`
	Reason     string    `json:"reason,omitempty"`
	Result     string    `json:"result"` // AuditOK: the store records only committed transitions
	// Changes summarises an update: the fields it changed, with their
	// values before and after unless they are secret (AuditRedacted).
	Changes  []AuditChange `json:"changes,omitempty"`
	PrevHash string        `json:"prev_hash,omitempty"` // lowercase hex SHA-256; empty for the first chained event
	Hash     string        `json:"hash,omitempty"`
}

// Results of audit events. AuditOK is that of every transition the store
// records: it is written in the transaction of the change, so it exists
// only if the change committed. AuditDenied is that of a request an
// authenticated actor was forbidden to make (RecordAudit), which changed
// nothing.
const (
	AuditOK     = "ok"
	AuditDenied = "denied"
)

// AuditChange is one field an update changed.
type AuditChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// AuditRedacted stands for the value of a field that may hold secret
// material (a hash, a secret, sealed bytes), in AuditChange.
const AuditRedacted = "[redacted]"

// AuditHead is the newest event of the chain: an anchor kept outside the
// store lets a later verification detect a truncated tail.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// Anchor is the Seq of the last event older than the chain (0: none).
	Anchor int64 `json:"anchor"`
}

// AuditFilter narrows ListAudit; zero fields match everything.
type AuditFilter struct {
	TargetID string
	Actor    string
	Action   string
	Since    time.Time
}

// AuditStore reads the audit trail, oldest first.
type AuditStore interface {
	ListAudit(ctx context.Context, f AuditFilter, p Page) (events []*AuditEvent, next string, err error)
	// AuditChain returns up to limit events with Seq > after, in Seq order.
	AuditChain(ctx context.Context, after int64, limit int) ([]*AuditEvent, error)
	AuditHead(ctx context.Context) (AuditHead, error)
	// RecordAudit appends an event that is no transition of a record, such
	// as a denied request, with the actor, source and reason of ctx; it
	// sets e's ID, At, Actor, Source, Reason and chain fields.
	RecordAudit(ctx context.Context, e *AuditEvent) error
}

type auditKey struct{}

type auditContext struct{ actor, reason, source string }

// WithActor names who acts in ctx, for the audit trail.
func WithActor(ctx context.Context, actor string) context.Context {
	a := auditFrom(ctx)
	a.actor = actor
	return context.WithValue(ctx, auditKey{}, a)
}

// WithReason says why, for the audit trail.
func WithReason(ctx context.Context, reason string) context.Context {
	a := auditFrom(ctx)
	a.reason = reason
	return context.WithValue(ctx, auditKey{}, a)
}

// WithSource names where the request came from (the client's IP address),
// for the audit trail.
func WithSource(ctx context.Context, source string) context.Context {
	a := auditFrom(ctx)
	a.source = source
	return context.WithValue(ctx, auditKey{}, a)
}

// HasActor says whether ctx names who acts (WithActor).
func HasActor(ctx context.Context) bool { return auditFrom(ctx).actor != "" }

// AuditSource returns the source set on ctx, or "".
func AuditSource(ctx context.Context) string { return auditFrom(ctx).source }

// Audit returns the actor and reason set on ctx; the actor is "system" when
// none was set.
func Audit(ctx context.Context) (actor, reason string) {
	a := auditFrom(ctx)
	if a.actor == "" {
		a.actor = "system"
	}
	return a.actor, a.reason
}

func auditFrom(ctx context.Context) auditContext {
	a, _ := ctx.Value(auditKey{}).(auditContext)
	return a
}

// MaxAuditReason bounds a reason, which callers give freely.
const MaxAuditReason = 500

// CleanReason makes text fit for the audit trail: control characters (which
// could forge lines in a terminal or a table) become spaces, and it is cut
// to MaxAuditReason bytes on a character boundary.
func CleanReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= MaxAuditReason {
		return s
	}
	cut := MaxAuditReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
