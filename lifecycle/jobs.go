package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/keygate/keygate"
)

// Store is what the jobs work on: every credential kind with a lifecycle,
// and the usage history they prune.
type Store interface {
	keygate.KeyStore
	keygate.HMACCredentialStore
	keygate.UsageStore
	keygate.ChangeLog
	keygate.AccessTokenStore
}

// Jobs are the lifecycle's background work, for API keys and HMAC
// credentials alike: expiry notices, scheduled rotation (notices and
// automatic rotations, per the consumers' rotation policies), archival of
// ended credentials and destruction of archived ones; and the pruning of
// old usage. Every step claims its credentials with one conditional write,
// and pruning deletes what is older than a cutoff (deleting it twice
// deletes nothing more), so any number of nodes may run them at once.
type Jobs struct {
	Store  Store
	Events keygate.Publisher // nil: notices are not sent
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	// Notice is how long before expiry a key.expiring (or
	// hmac_credential.expiring) event goes out.
	Notice time.Duration
	// ArchiveAfter is how long after it expired or was revoked a credential
	// is archived (a key's secret hash dropped, an HMAC credential's secret
	// destroyed); Retention how long after that the record is destroyed.
	// Zero: never.
	ArchiveAfter, Retention time.Duration
	// Rotator rotates the keys automatic rotation policies make due and
	// hands their new keys over (see Rotator.RotateScheduled). Nil: policies
	// only send notices.
	Rotator *Rotator
	// UsageRetention is how long usage counts are kept: those of minutes
	// longer ago are deleted. Zero: kept forever.
	UsageRetention time.Duration
	// ChangeRetention is how long the change log keeps a change: long
	// enough for every node's reconciler to have read it. Zero: kept forever.
	ChangeRetention time.Duration
	// Ran, when set, learns of each run of Run: whether it failed.
	Ran func(failed bool)
}

// revokedTokenLeeway is how long past its exp a revoked access token's
// record is kept: longer than any verifier's clock-skew leeway.
const revokedTokenLeeway = 5 * time.Minute

// batch bounds one write, so that a backlog never holds the writer long.
const batch = 500

// Report is what one run of the jobs did, each count over keys and HMAC
// credentials together.
type Report struct {
	Noticed   int // expiry and rotation notices sent
	Rotated   int // keys rotated by their consumer's policy
	Archived  int
	Destroyed int
	// UsagePruned is how many usage rows (one per minute, consumer,
	// credential and route) were deleted.
	UsagePruned int64
	// ChangesPruned is how many changes were deleted from the change log.
	ChangesPruned int64
	// RevokedTokensPurged is how many revoked access tokens' records were
	// deleted, the tokens having expired.
	RevokedTokensPurged int64
}

func (r Report) total() int64 {
	return int64(r.Noticed+r.Rotated+r.Archived+r.Destroyed) + r.UsagePruned
}

// RunOnce does all the work due at this moment and reports what it did.
// On an error it stops and reports what was done until then.
func (j *Jobs) RunOnce(ctx context.Context) (Report, error) {
	ctx = keygate.WithActor(ctx, "system:lifecycle")
	now := j.now()
	var r Report
	var steps []step
	if j.Notice > 0 && j.Events != nil {
		before := now.Add(j.Notice)
		steps = append(steps, step{&r.Noticed, func() (int, error) {
			keys, err := j.Store.NoticeExpiring(ctx, before, batch)
			for _, k := range keys {
				j.publish(ctx, keygate.Event{Type: keygate.EventKeyExpiring, CreatedAt: now, ConsumerID: k.Consumer.ID,
					Data: map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start, "expires_at": k.ExpiresAt}})
			}
			return len(keys), err
		}}, step{&r.Noticed, func() (int, error) {
			creds, err := j.Store.NoticeExpiringHMACCredentials(ctx, before, batch)
			for _, c := range creds {
				j.publish(ctx, keygate.Event{Type: keygate.EventHMACCredentialExpiring, CreatedAt: now, ConsumerID: c.Consumer.ID,
					Data: map[string]any{"hmac_credential_id": c.ID, "username": c.Username, "expires_at": c.ExpiresAt}})
			}
			return len(creds), err
		}})
	}
	// The rotation notice goes before the rotation, in the same run when
	// the notice period is zero.
	if j.Events != nil {
		steps = append(steps, step{&r.Noticed, func() (int, error) {
			due, err := j.Store.NoticeRotationDue(ctx, now, batch)
			for _, d := range due {
				j.publish(ctx, keygate.Event{Type: keygate.EventKeyRotationDue, CreatedAt: now, ConsumerID: d.Key.Consumer.ID,
					Data: map[string]any{"key_id": d.Key.ID, "due_at": d.DueAt, "auto": d.Consumer.RotationPolicy.Auto}})
			}
			return len(due), err
		}})
	}
	if j.Rotator != nil {
		rotateCtx := keygate.WithReason(ctx, "rotation policy")
		steps = append(steps, step{&r.Rotated, func() (int, error) { return j.rotateDue(rotateCtx, now) }})
	}
	if j.ArchiveAfter > 0 {
		endedBefore := now.Add(-j.ArchiveAfter)
		steps = append(steps, step{&r.Archived, func() (int, error) {
			keys, err := j.Store.ArchiveKeys(ctx, endedBefore, batch)
			return len(keys), err
		}}, step{&r.Archived, func() (int, error) {
			creds, err := j.Store.ArchiveHMACCredentials(ctx, endedBefore, batch)
			return len(creds), err
		}})
	}
	if j.Retention > 0 {
		archivedBefore := now.Add(-j.Retention)
		steps = append(steps, step{&r.Destroyed, func() (int, error) {
			return j.Store.DestroyKeys(ctx, archivedBefore, batch)
		}}, step{&r.Destroyed, func() (int, error) {
			return j.Store.DestroyHMACCredentials(ctx, archivedBefore, batch)
		}})
	}
	for _, s := range steps {
		// Batch after batch, until one is short: the backlog is done.
		for {
			n, err := s.run()
			*s.count += n
			if err != nil {
				return r, err
			}
			if n < batch {
				break
			}
		}
	}
	// PruneUsage works through its backlog in batches of its own.
	if j.UsageRetention > 0 {
		n, err := j.Store.PruneUsage(ctx, now.Add(-j.UsageRetention))
		r.UsagePruned += n
		if err != nil {
			return r, err
		}
	}
	if j.ChangeRetention > 0 {
		n, err := j.Store.PruneChanges(ctx, now.Add(-j.ChangeRetention))
		r.ChangesPruned += n
		if err != nil {
			return r, err
		}
	}
	// A revoked access token's record is needed until the token expired
	// (plus the verifiers' leeway): after that its exp refuses it.
	n, err := j.Store.PurgeRevokedAccessTokens(ctx, now.Add(-revokedTokenLeeway))
	r.RevokedTokensPurged += n
	if err != nil {
		return r, err
	}
	return r, nil
}

// rotateDue rotates one batch of the keys automatic policies make due and
// says how many it rotated. Only rotations count: a batch with keys another
// node rotated first, or that cannot be rotated, is short, and what is left
// waits for the next run.
func (j *Jobs) rotateDue(ctx context.Context, now time.Time) (int, error) {
	due, err := j.Store.DueRotations(ctx, now, batch)
	if err != nil {
		return 0, err
	}
	rotated, undeliverable := 0, 0
	for _, d := range due {
		_, _, err := j.Rotator.RotateScheduled(ctx, d)
		switch {
		case err == nil:
			rotated++
		case keygate.ErrorCode(err) == keygate.ECONFLICT:
			// Another node rotated it (or it was revoked) since it was read.
		case errors.Is(err, ErrUndeliverable):
			undeliverable++
		default:
			return rotated, err
		}
	}
	if undeliverable > 0 {
		j.logger().Warn("lifecycle: keys due for automatic rotation left as they are: their consumers have no public_key and self-service rotation is off",
			"keys", undeliverable)
	}
	return rotated, nil
}

// step is one batch of one job, counted in count.
type step struct {
	count *int
	run   func() (int, error)
}

// publish sends a notice. The credential is already marked noticed, so a
// failure loses the notice; it is logged for the operator to act on.
func (j *Jobs) publish(ctx context.Context, e keygate.Event) {
	if err := j.Events.Publish(ctx, e); err != nil {
		j.logger().Error("lifecycle: notice not sent", "type", e.Type, "consumer_id", e.ConsumerID, "error", err)
	}
}

// Run runs the jobs every interval until ctx ends. A failed run is logged
// and retried at the next tick: every step is idempotent.
func (j *Jobs) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r, err := j.RunOnce(ctx)
		if j.Ran != nil && ctx.Err() == nil {
			j.Ran(err != nil)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			j.logger().Error("lifecycle jobs failed; retrying at the next tick", "error", err)
		case r.total() > 0:
			j.logger().Info("lifecycle jobs", "notices", r.Noticed, "rotated", r.Rotated, "archived", r.Archived, "destroyed", r.Destroyed,
				"usage_pruned", r.UsagePruned)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (j *Jobs) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Jobs) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.Default()
}
