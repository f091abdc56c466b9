package limiting

import (
	"context"
	"log/slog"
	"time"

	"github.com/keygate/keygate"
)

// Code classifies a limiter's decision for a request of cost: VALID when
// allowed; USAGE_EXCEEDED when a quota has less than cost left (it stays
// refused until the period ends); RATE_LIMITED otherwise (the rate refills
// within moments).
func Code(d *keygate.LimitDecision, cost int) keygate.VerifyCode {
	if d.Allowed {
		return keygate.CodeValid
	}
	for i := range d.Quotas {
		if q := &d.Quotas[i]; q.Limit > 0 && q.Remaining < int64(cost) {
			return keygate.CodeUsageExceeded
		}
	}
	return keygate.CodeRateLimited
}

// Apply checks a request of cost to s against limits with l. err is only
// the limiter's failure to decide (the caller fails open or closed).
func Apply(ctx context.Context, l keygate.RateLimiter, s keygate.Subject, limits *keygate.Limits, cost int) (keygate.VerifyCode, keygate.LimitDecision, error) {
	d, err := l.Allow(ctx, s, limits, cost)
	if err != nil {
		return "", d, err
	}
	return Code(&d, cost), d, nil
}

// Exhausted returns the periods whose quota the allowed decision d has
// just used up (Remaining 0 after it). A refused request consumes nothing,
// so exactly one request per period and subject sees its quota reach 0:
// the one to send quota.exhausted for.
func Exhausted(d *keygate.LimitDecision, limits *keygate.Limits) []keygate.Period {
	if !d.Allowed {
		return nil
	}
	var out []keygate.Period
	for i := range d.Quotas {
		if limits.Quotas[i].Limit > 0 && d.Quotas[i].Limit > 0 && d.Quotas[i].Remaining == 0 {
			out = append(out, keygate.Period(i+1))
		}
	}
	return out
}

// Events publishes the webhook events of limits and credits. A nil
// *Events, or one without a Publisher, publishes nothing. Publishing
// never fails a request: a failure is logged.
type Events struct {
	Publisher keygate.Publisher
	Logger    *slog.Logger
	Now       func() time.Time
}

func (e *Events) publish(typ, consumerID string, data map[string]any) {
	if e == nil || e.Publisher == nil {
		return
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	if err := e.Publisher.Publish(context.Background(), keygate.Event{Type: typ, CreatedAt: now(), ConsumerID: consumerID, Data: data}); err != nil && e.Logger != nil {
		e.Logger.Error("event not queued", "type", typ, "error", err)
	}
}

// QuotaExhausted sends quota.exhausted for each period whose quota d used up.
func (e *Events) QuotaExhausted(d *keygate.LimitDecision, limits *keygate.Limits, planID, keyID, consumerID string, s keygate.Subject) {
	for _, p := range Exhausted(d, limits) {
		e.publish(keygate.EventQuotaExhausted, consumerID, map[string]any{"plan_id": planID, "key_id": keyID,
			"period": p.String(), "limit": d.Quotas[p-1].Limit, "reset": d.Quotas[p-1].Reset.Seconds(), "subject": s.ID})
	}
}

// Spend deducts cost from key keyID's credits in store: VALID when spent
// (or the key has none), USAGE_EXCEEDED when fewer than cost remain. It
// sends key.credits_low when this spend crossed the low threshold and
// key.credits_exhausted when it took the last credit.
func (e *Events) Spend(ctx context.Context, store keygate.CreditStore, keyID, consumerID string, cost int, now time.Time) (keygate.VerifyCode, keygate.CreditSpend, error) {
	sp, err := store.SpendCredits(ctx, keyID, int64(cost), now)
	if err != nil {
		return "", sp, err
	}
	if !sp.Spent {
		if sp.Limited {
			return keygate.CodeUsageExceeded, sp, nil
		}
		return keygate.CodeValid, sp, nil
	}
	threshold := keygate.CreditsLowThreshold(sp.Refill)
	data := func() map[string]any { return map[string]any{"key_id": keyID, "remaining": sp.Remaining} }
	switch {
	case sp.Remaining == 0 && sp.Before > 0:
		e.publish(keygate.EventKeyCreditsExhausted, consumerID, data())
	case sp.Before >= threshold && sp.Remaining < threshold:
		e.publish(keygate.EventKeyCreditsLow, consumerID, data())
	}
	return keygate.CodeValid, sp, nil
}

// Spend is one named limit a request spends, with its cost.
type Spend struct {
	Limit *keygate.NamedLimit
	Cost  int
}

// NamedSubject is where named limit name of subject s counts: apart from
// the plan's own limits and from every other name.
func NamedSubject(s keygate.Subject, name string) keygate.Subject {
	return keygate.Subject{ID: s.ID + "#limit:" + name, Route: s.Route}
}

// ApplyNamed spends each of spends against its named limit for subject s,
// in order, and stops at the first refusal: the limiter decides one
// subject at a time, so the limits spent before a refusal stay spent (a
// refused limit itself consumes nothing). It returns the code (VALID,
// RATE_LIMITED or USAGE_EXCEEDED) and each decided limit's state, named
// by the limit: its quota's when it has one, else its rate's. A spend of
// cost 0 is skipped (limiters count a cost below 1 as 1).
func ApplyNamed(ctx context.Context, l keygate.RateLimiter, s keygate.Subject, spends []Spend) (keygate.VerifyCode, []keygate.VerifiedLimit, error) {
	out := make([]keygate.VerifiedLimit, 0, len(spends))
	for _, sp := range spends {
		if sp.Cost == 0 {
			continue
		}
		limits := sp.Limit.Limits()
		d, err := l.Allow(ctx, NamedSubject(s, sp.Limit.Name), &limits, sp.Cost)
		if err != nil {
			return "", out, err
		}
		st := &d.Rate
		if p := keygate.ParsePeriod(sp.Limit.Per); p != 0 && limits.Quotas[p-1].Limit > 0 {
			st = &d.Quotas[p-1]
		}
		out = append(out, keygate.VerifiedLimit{Name: sp.Limit.Name, Limit: st.Limit, Remaining: st.Remaining,
			Reset: int64((st.Reset + time.Second - 1) / time.Second)})
		if code := Code(&d, sp.Cost); code != keygate.CodeValid {
			return code, out, nil
		}
	}
	return keygate.CodeValid, out, nil
}
