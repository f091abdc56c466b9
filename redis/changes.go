package redis

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keygate/keygate"
)

// ChangeBus carries the changes each node commits to every other node, over
// Redis pub/sub, so that a revoke made on one node is honoured by all of
// them within moments: each node's caches apply the others' changes as they
// apply their own.
//
// Pub/sub delivers at most once: a change published while a node was not
// subscribed is lost to it. So each time a node (re)subscribes it resyncs
// (drops its caches whole); the store's change log, which each node reads
// every --reconcile-interval (package changelog), brings it any change lost
// another way, and the caches' TTLs bound the rest.
type ChangeBus struct {
	client  goredis.UniversalClient
	channel string
	node    string
	logger  *slog.Logger
	out     chan keygate.Change
	// subscribed is closed once the first subscription is established and
	// its resync done.
	subscribed     chan struct{}
	subscribedOnce sync.Once
}

// busMessage is one change on the channel, with the node that made it.
type busMessage struct {
	Node   string         `json:"node"`
	Change keygate.Change `json:"change"`
}

// NewChangeBus returns a bus on the channel prefix+"changes".
func NewChangeBus(client goredis.UniversalClient, prefix string, logger *slog.Logger) *ChangeBus {
	if logger == nil {
		logger = slog.Default()
	}
	return &ChangeBus{client: client, channel: prefix + "changes", node: rand.Text(), logger: logger,
		out: make(chan keygate.Change, 4096), subscribed: make(chan struct{})}
}

// Subscribed is closed once Run has subscribed the first time (and
// resynced): from then on, other nodes' changes reach this one.
func (b *ChangeBus) Subscribed() <-chan struct{} { return b.subscribed }

// Publish queues c for the other nodes. It is a store change hook: it never
// waits for Redis, and when the queue is full (Redis has been away for a
// long time) the change is dropped and logged; the other nodes resync when
// they reconnect, and their caches' TTLs bound the rest.
func (b *ChangeBus) Publish(c keygate.Change) {
	select {
	case b.out <- c:
	default:
		b.logger.Error("change not sent to the other nodes: the queue is full", "kind", c.Kind.String(), "id", c.ID)
	}
}

// Run sends the queued changes and hands every other node's change to
// apply, until ctx ends. resync runs each time the subscription is
// (re)established, before the changes that follow it.
func (b *ChangeBus) Run(ctx context.Context, apply func(keygate.Change), resync func()) {
	go b.send(ctx)
	sub := b.client.Subscribe(ctx, b.channel)
	// A blocked Receive does not watch ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { sub.Close() })
	defer stop()
	defer sub.Close()
	for {
		msg, err := sub.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			// go-redis reconnects on the next Receive; the subscription
			// message that follows triggers the resync.
			b.logger.Warn("change bus: receive failed; reconnecting", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				resync()
				b.logger.Debug("change bus: subscribed", "channel", b.channel)
				b.subscribedOnce.Do(func() { close(b.subscribed) })
			}
		case *goredis.Message:
			var bm busMessage
			if err := json.Unmarshal([]byte(m.Payload), &bm); err != nil {
				b.logger.Warn("change bus: unreadable message", "error", err)
				continue
			}
			if bm.Node != b.node {
				apply(bm.Change)
			}
		}
	}
}

// send publishes the queued changes in order, retrying each for a while so
// that a short Redis outage loses nothing.
func (b *ChangeBus) send(ctx context.Context) {
	for {
		var c keygate.Change
		select {
		case <-ctx.Done():
			return
		case c = <-b.out:
		}
		payload, err := json.Marshal(busMessage{Node: b.node, Change: c})
		if err != nil {
			continue
		}
		for attempt := 0; ; attempt++ {
			err := b.client.Publish(ctx, b.channel, payload).Err()
			if err == nil || ctx.Err() != nil {
				break
			}
			if attempt == 50 { // about 10 s
				b.logger.Error("change not sent to the other nodes: Redis unreachable", "kind", c.Kind.String(), "id", c.ID, "error", err)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
