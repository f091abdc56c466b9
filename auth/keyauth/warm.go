package keyauth

import (
	"context"
	"time"

	"github.com/keygate/keygate"
)

// RecentKeys is the store read Warm needs.
type RecentKeys interface {
	RecentlyUsedKeys(ctx context.Context, since time.Time, after string, limit int) ([]keygate.KeyWithConsumer, error)
}

// WarmOptions tune Warm; zero values take the defaults.
type WarmOptions struct {
	// Batch is how many keys one store read returns (default 1,000).
	Batch int
	// Pause is how long Warm waits between batches (default 5 ms), so that
	// the requests a restarting node already serves get the store first.
	Pause time.Duration
}

// Warm preloads the keys used since since (see keygate.KeyStore's
// RecentlyUsedKeys) into the cache, up to its bound, a batch at a time, and
// returns how many it cached. Each is cached exactly as a miss on it would
// have been (Preload). An error stops it; what it cached stays.
func (v *Verifier) Warm(ctx context.Context, store RecentKeys, since time.Time, opts WarmOptions) (int, error) {
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Pause <= 0 {
		opts.Pause = 5 * time.Millisecond
	}
	total, read, after := 0, 0, ""
	for read < v.opts.CacheSize {
		limit := min(opts.Batch, v.opts.CacheSize-read)
		from, got, next := after, 0, after
		// Preload may read the batch again: each read starts at from.
		n, err := v.Preload(ctx, func(ctx context.Context) ([]keygate.KeyWithConsumer, error) {
			batch, err := store.RecentlyUsedKeys(ctx, since, from, limit)
			if err != nil {
				return nil, err
			}
			got = len(batch)
			if got > 0 {
				next = batch[got-1].Key.ID
			}
			return batch, nil
		})
		after = next
		total += n
		if err != nil {
			return total, err
		}
		read += got
		if got < limit {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(opts.Pause):
		}
	}
	return total, nil
}
