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
type AuditEvent struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`  // admin:<token name>, key:<key id>, leak-report, system:lifecycle, system
	Action     string    `json:"action"` // <kind>.<verb>, e.g. key.revoked
	TargetKind string    `json:"target_kind"`
	TargetID   string    `json:"target_id"`
	Reason     string    `json:"reason,omitempty"`
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
}

type auditKey struct{}

type auditContext struct{ actor, reason string }

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
