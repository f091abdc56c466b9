package limiting

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate"
)

func TestCode(t *testing.T) {
	quota := func(limit, remaining int64) (q [keygate.PeriodCount]keygate.LimitState) {
		q[keygate.Day-1] = keygate.LimitState{Limit: limit, Remaining: remaining}
		return q
	}
	for _, tt := range []struct {
		name string
		d    keygate.LimitDecision
		cost int
		want keygate.VerifyCode
	}{
		{"allowed", keygate.LimitDecision{Allowed: true}, 1, keygate.CodeValid},
		{"rate", keygate.LimitDecision{Rate: keygate.LimitState{Limit: 5}, Quotas: quota(10, 4)}, 1, keygate.CodeRateLimited},
		{"quota used up", keygate.LimitDecision{Quotas: quota(10, 0)}, 1, keygate.CodeUsageExceeded},
		{"quota short of the cost", keygate.LimitDecision{Quotas: quota(10, 2)}, 3, keygate.CodeUsageExceeded},
	} {
		if got := Code(&tt.d, tt.cost); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestExhausted(t *testing.T) {
	var l keygate.Limits
	l.Quotas[keygate.Day-1].Limit = 10
	d := keygate.LimitDecision{Allowed: true}
	d.Quotas[keygate.Day-1] = keygate.LimitState{Limit: 10, Remaining: 0}
	if got := Exhausted(&d, &l); len(got) != 1 || got[0] != keygate.Day {
		t.Errorf("used up by this request: %v", got)
	}
	d.Allowed = false
	if got := Exhausted(&d, &l); got != nil {
		t.Errorf("a refused request exhausts nothing: %v", got)
	}
}

type spendStore struct{ sp keygate.CreditSpend }

func (s spendStore) SpendCredits(context.Context, string, int64, time.Time) (keygate.CreditSpend, error) {
	return s.sp, nil
}

type events []string

func (e *events) Publish(_ context.Context, ev keygate.Event) error {
	*e = append(*e, ev.Type)
	return nil
}

func TestSpendEvents(t *testing.T) {
	refill := &keygate.CreditRefill{Interval: keygate.RefillDaily, Amount: 100}
	for _, tt := range []struct {
		name  string
		sp    keygate.CreditSpend
		code  keygate.VerifyCode
		event string
	}{
		{"unlimited", keygate.CreditSpend{}, keygate.CodeValid, ""},
		{"spent", keygate.CreditSpend{Spent: true, Limited: true, Before: 50, Remaining: 49, Refill: refill}, keygate.CodeValid, ""},
		{"below a tenth", keygate.CreditSpend{Spent: true, Limited: true, Before: 10, Remaining: 9, Refill: refill}, keygate.CodeValid, keygate.EventKeyCreditsLow},
		{"last one", keygate.CreditSpend{Spent: true, Limited: true, Before: 1, Remaining: 0, Refill: refill}, keygate.CodeValid, keygate.EventKeyCreditsExhausted},
		{"none left", keygate.CreditSpend{Limited: true}, keygate.CodeUsageExceeded, ""},
	} {
		var got events
		e := &Events{Publisher: &got}
		code, _, err := e.Spend(context.Background(), spendStore{tt.sp}, "k", "c", 1, time.Now())
		if err != nil || code != tt.code || len(got) > 1 || (tt.event == "") != (len(got) == 0) || len(got) == 1 && got[0] != tt.event {
			t.Errorf("%s: %s %v events %v, want %s and %q", tt.name, code, err, got, tt.code, tt.event)
		}
	}
	// A nil *Events spends without publishing.
	var none *Events
	if code, _, _ := none.Spend(context.Background(), spendStore{keygate.CreditSpend{Spent: true, Limited: true, Before: 1}}, "k", "c", 1, time.Now()); code != keygate.CodeValid {
		t.Errorf("nil events: %s", code)
	}
}
