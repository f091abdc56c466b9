package adminapi

import (
	"context"

	"github.com/keygate/keygate"
)

// updateConsumer is the store's UpdateConsumer that also sends
// consumer.disabled or consumer.enabled when the update toggled enabled:
// disabling a consumer refuses all its credentials, as DISABLED.
func (s *Server) updateConsumer(ctx context.Context, ref string, update func(*keygate.Consumer) error) (*keygate.Consumer, error) {
	was := true
	c, err := s.Store.UpdateConsumer(ctx, ref, func(c *keygate.Consumer) error {
		was = keygate.IsEnabled(c.Enabled)
		return update(c)
	})
	if err != nil {
		return nil, err
	}
	if now := keygate.IsEnabled(c.Enabled); now != was {
		typ := keygate.EventConsumerDisabled
		if now {
			typ = keygate.EventConsumerEnabled
		}
		s.publish(ctx, typ, c.ID, map[string]any{"consumer_id": c.ID, "username": c.Username})
	}
	return c, nil
}
