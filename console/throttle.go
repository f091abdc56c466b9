package console

import (
	"time"

	"github.com/keygate/keygate/internal/web"
)

// throttle counts failed local sign-ins per key (an account name, a client
// address) in fixed windows: web.Throttle, shared with the consumer portal.
type throttle struct{ t *web.Throttle }

func newThrottle(window time.Duration) *throttle { return &throttle{web.NewThrottle(window)} }

func (t *throttle) count(key string, now time.Time) (int, time.Time) { return t.t.Count(key, now) }
func (t *throttle) fail(key string, now time.Time)                   { t.t.Fail(key, now) }
func (t *throttle) clear(key string)                                 { t.t.Clear(key) }
