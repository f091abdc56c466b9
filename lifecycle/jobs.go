package lifecycle

import (
	"context"
	"log/slog"
	"time"

	"github.com/keygate/keygate"
)

// Jobs are the lifecycle's background work: expiry notices, archival of
// ended keys and destruction of archived ones. Every step claims its keys
// with one conditional write, so any number of nodes may run them at once.
type Jobs struct {
	Store  keygate.KeyStore
	Events keygate.Publisher // nil: notices are not sent
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
	// Notice is how long before expiry a key.expiring event goes out.
	Notice time.Duration
	// ArchiveAfter is how long after it expired or was revoked a key is
	// archived (its secret hash dropped); Retention how long after that the
	// record is destroyed. Zero: never.
	ArchiveAfter, Retention time.Duration
}

// batch bounds one write, so that a backlog never holds the writer long.
const batch = 500

// RunOnce does all the work due at this moment and reports what it did.
func (j *Jobs) RunOnce(ctx context.Context) (noticed, archived, destroyed int, err error) {
	ctx = keygate.WithActor(ctx, "system:lifecycle")
	now := j.now()
	if j.Notice > 0 && j.Events != nil {
		for {
			keys, err := j.Store.NoticeExpiring(ctx, now.Add(j.Notice), batch)
			if err != nil {
				return noticed, archived, destroyed, err
			}
			for _, k := range keys {
				j.Events.Publish(ctx, keygate.Event{Type: keygate.EventKeyExpiring, CreatedAt: now, ConsumerID: k.Consumer.ID,
					Data: map[string]any{"key_id": k.ID, "name": k.Name, "start": k.Start, "expires_at": k.ExpiresAt}})
			}
			noticed += len(keys)
			if len(keys) < batch {
				break
			}
		}
	}
	if j.ArchiveAfter > 0 {
		for {
			keys, err := j.Store.ArchiveKeys(ctx, now.Add(-j.ArchiveAfter), batch)
			if err != nil {
				return noticed, archived, destroyed, err
			}
			archived += len(keys)
			if len(keys) < batch {
				break
			}
		}
	}
	if j.Retention > 0 {
		for {
			n, err := j.Store.DestroyKeys(ctx, now.Add(-j.Retention), batch)
			if err != nil {
				return noticed, archived, destroyed, err
			}
			destroyed += n
			if n < batch {
				break
			}
		}
	}
	return noticed, archived, destroyed, nil
}

// Run runs the jobs every interval until ctx ends. A failed run is logged
// and retried at the next tick: every step is idempotent.
func (j *Jobs) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		noticed, archived, destroyed, err := j.RunOnce(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			j.logger().Error("lifecycle jobs failed; retrying at the next tick", "error", err)
		case noticed+archived+destroyed > 0:
			j.logger().Info("lifecycle jobs", "expiry_notices", noticed, "archived", archived, "destroyed", destroyed)
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
