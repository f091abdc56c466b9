package lease

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/keygate/keygate"
)

// releaseTimeout bounds the release of a lease on the way out.
const releaseTimeout = 5 * time.Second

// NewHolder returns a holder name for this process: its host name, for
// people reading logs and the leases table, and a random part, so that two
// processes (or two Runners in one test) on one host are two holders.
func NewHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + "/" + rand.Text()[:10]
}

// Runner runs a job while it holds the lease Name, and only then. It tries
// to take the lease every TTL/3; once it has it, it starts the job and
// renews the lease every TTL/3. When a renewal is refused (the lease
// expired and another holder took it) or fails (the store is unreachable:
// the lease may be lost, and before long it is), the job's context is
// cancelled at once, and the Runner goes back to trying to take the lease.
//
// A job must return promptly once its context ends; until it has, the
// Runner does not try again. The lease bounds who starts work, not who may
// still be finishing some: jobs stay safe to run on two nodes at once (for
// the moment a slow job and its successor overlap), the lease saves doing
// the work N times over.
type Runner struct {
	Store  keygate.LeaseStore
	Name   string // the lease's name, one per job
	Holder string // this node (NewHolder)
	TTL    time.Duration
	Logger *slog.Logger // nil: slog.Default()

	held atomic.Bool
}

// Held says whether the job runs here under the lease: true from when the
// lease is taken, false from when it is lost (the job may still be
// returning).
func (r *Runner) Held() bool { return r.held.Load() }

// Run runs job under the lease until ctx ends; then it stops the job, waits
// for it and releases the lease, so that another node can take it at once
// instead of when it expires.
func (r *Runner) Run(ctx context.Context, job func(ctx context.Context)) error {
	switch {
	case r.Store == nil || r.Name == "" || r.Holder == "":
		return errors.New("lease: Runner needs a Store, a Name and a Holder")
	case r.TTL < 3*time.Millisecond:
		return errors.New("lease: Runner.TTL must be at least 3ms")
	}
	t := time.NewTicker(r.TTL / 3)
	defer t.Stop()
	for {
		if r.acquire(ctx, false) {
			r.lead(ctx, t.C, job)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// lead runs job while renewals of the lease succeed.
func (r *Runner) lead(ctx context.Context, ticks <-chan time.Time, job func(context.Context)) {
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	r.held.Store(true)
	r.logger().Info("lease taken: running the job here", "lease", r.Name, "holder", r.Holder)
	go func() {
		defer close(done)
		job(jobCtx)
	}()
	stop := func() {
		r.held.Store(false)
		cancel()
		<-done
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			r.release()
			return
		case <-done:
			// The job ended by itself: another node (or this one, at the
			// next try) may start it again.
			r.held.Store(false)
			r.release()
			if ctx.Err() == nil {
				r.logger().Warn("job returned while holding its lease; lease released", "lease", r.Name, "holder", r.Holder)
			}
			return
		case <-ticks:
			if !r.acquire(ctx, true) {
				stop()
				if ctx.Err() == nil {
					r.logger().Warn("lease lost: job stopped", "lease", r.Name, "holder", r.Holder)
				}
				return
			}
		}
	}
}

// acquire takes or renews the lease. A call is bounded by TTL/3, the
// renewal interval: a renewal that hangs stops the job well before the
// lease it may still hold runs out.
func (r *Runner) acquire(ctx context.Context, renewing bool) bool {
	actx, cancel := context.WithTimeout(ctx, r.TTL/3)
	defer cancel()
	held, err := r.Store.AcquireLease(actx, r.Name, r.Holder, r.TTL)
	if err != nil && ctx.Err() == nil {
		msg := "lease could not be taken"
		if renewing {
			msg = "lease could not be renewed: stopping the job"
		}
		r.logger().Error(msg, "lease", r.Name, "holder", r.Holder, "error", err)
	}
	return err == nil && held
}

func (r *Runner) release() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := r.Store.ReleaseLease(ctx, r.Name, r.Holder); err != nil {
		// It expires by itself a TTL after the last renewal.
		r.logger().Warn("lease could not be released; it expires by itself", "lease", r.Name, "holder", r.Holder, "error", err)
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
