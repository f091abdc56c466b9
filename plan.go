package keygate

import (
	"context"
	"math"
	"strconv"
	"time"
)

// Plan is a usage plan, as AWS API Gateway's: how fast (a rate with a
// burst) and how much (quotas per calendar period) its subscribers may call.
// It is assigned to consumers and, overriding theirs, to single keys.
type Plan struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Rate is the sustained requests per second; 0: no rate limit. Burst
	// is how many may arrive at once (0: Rate rounded up).
	Rate   float64 `json:"rate"`
	Burst  int     `json:"burst"`
	Quotas Quotas  `json:"quotas"`
	// LimitBy is whose requests share the limits (default: each key's own).
	LimitBy LimitBy `json:"limit_by"`
	// Routes adjusts the plan for single routes.
	Routes []PlanRoute `json:"routes"`
	// Limits are named limits beyond the plan's own (a token budget next
	// to the request rate): the verify API spends them when a request
	// names them in ratelimits, each counted apart from the others.
	// (Named, in Go: Limits is the method compiling a route's limits.)
	Named []NamedLimit `json:"limits,omitempty"`
	// HideClientHeaders leaves out the RateLimit-* and X-RateLimit-*
	// headers, as Kong's hide_client_headers: each costs the gateway
	// about 1% of its throughput. A refusal keeps its Retry-After.
	HideClientHeaders bool     `json:"hide_client_headers"`
	Tags              []string `json:"tags"`
	Timestamps
}

// Quotas are how many requests (weighed by cost) fit in each calendar
// period, aligned in UTC: a day starts at 00:00 UTC, a month on its first.
// 0: no quota for that period.
type Quotas struct {
	Minute int64 `json:"minute,omitempty"`
	Hour   int64 `json:"hour,omitempty"`
	Day    int64 `json:"day,omitempty"`
	Month  int64 `json:"month,omitempty"`
}

// Of returns the quota for period p.
func (q Quotas) Of(p Period) int64 {
	switch p {
	case Minute:
		return q.Minute
	case Hour:
		return q.Hour
	case Day:
		return q.Day
	case Month:
		return q.Month
	}
	return 0
}

// PlanRoute adjusts a plan for one route: what a request to it costs, and
// limits of its own. A limit set here replaces the plan's for this route and
// is counted apart from it, per route (AWS's method throttling); the limits
// left unset are the plan's, shared with the subject's other routes.
type PlanRoute struct {
	Route Ref `json:"route"`
	// Cost is what one request counts against every limit (0 means 1).
	Cost   int      `json:"cost"`
	Rate   *float64 `json:"rate,omitempty"`
	Burst  int      `json:"burst,omitempty"`
	Quotas *Quotas  `json:"quotas,omitempty"`
}

// NamedLimit is a limit of a plan that only the verify API spends, by name
// and with the cost its caller gives (tokens, bytes, jobs): a rate (Rate
// per second with Burst) and/or a quota of Limit per calendar period Per.
type NamedLimit struct {
	Name  string  `json:"name"`
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
	Per   string  `json:"per,omitempty"` // minute, hour, day or month
	Limit int64   `json:"limit,omitempty"`
}

// Limits compiles n into the limiter's form.
func (n *NamedLimit) Limits() Limits {
	l := Limits{Rate: PerSecond(n.Rate, n.Burst)}
	if p := ParsePeriod(n.Per); p != 0 && n.Limit > 0 {
		l.Quotas[p-1].Limit = n.Limit
	}
	return l
}

// ParsePeriod returns the period named s (minute, hour, day, month), else 0.
func ParsePeriod(s string) Period {
	for p := Minute; p <= Month; p++ {
		if p.String() == s {
			return p
		}
	}
	return 0
}

// Find returns the plan's named limit called name, else nil.
func (p *Plan) Find(name string) *NamedLimit {
	for i := range p.Named {
		if p.Named[i].Name == name {
			return &p.Named[i]
		}
	}
	return nil
}

const maxNamedLimits = 32

func validateNamedLimits(limits []NamedLimit) error {
	if len(limits) > maxNamedLimits {
		return Errorf(EINVALID, "limits: at most %d entries", maxNamedLimits)
	}
	seen := map[string]bool{}
	for i, n := range limits {
		field := "limits[" + strconv.Itoa(i) + "]"
		if !validLimitName(n.Name) {
			return Errorf(EINVALID, "%s.name: 1 to 32 of a-z, 0-9, _ and -", field)
		}
		switch n.Name {
		case "rate", "minute", "hour", "day", "month":
			return Errorf(EINVALID, "%s.name: %q names one of the plan's own limits; choose another", field, n.Name)
		}
		if seen[n.Name] {
			return Errorf(EINVALID, "%s.name: %q listed twice", field, n.Name)
		}
		seen[n.Name] = true
		if err := validateRate(field+".rate", field+".burst", n.Rate, n.Burst); err != nil {
			return err
		}
		switch {
		case n.Per == "" && n.Limit != 0:
			return Errorf(EINVALID, "%s.per: required with a limit (minute, hour, day or month)", field)
		case n.Per != "" && ParsePeriod(n.Per) == 0:
			return Errorf(EINVALID, "%s.per: must be one of minute, hour, day, month", field)
		case n.Per != "" && (n.Limit <= 0 || n.Limit > math.MaxInt64/2):
			return Errorf(EINVALID, "%s.limit: must be positive", field)
		}
		if n.Rate == 0 && n.Per == "" {
			return Errorf(EINVALID, "%s: needs a rate or a quota (per and limit)", field)
		}
	}
	return nil
}

func validLimitName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// LimitBy says whose requests share a plan's limits, as Kong's limit_by.
type LimitBy string

const (
	LimitByKey      LimitBy = "key"      // each credential its own (the default)
	LimitByConsumer LimitBy = "consumer" // all of a consumer's credentials together
	LimitByIP       LimitBy = "ip"       // each client address its own
	LimitByRoute    LimitBy = "route"    // every subscriber of a route together
)

// Bounds of a plan's numbers. A rate above a million per second would have
// requests share less than a microsecond, Redis's clock tick.
const (
	MaxPlanRate  = 1e6
	MinPlanRate  = 0.001 // one request per 1000 s
	MaxPlanBurst = 1_000_000
	MaxPlanCost  = 1_000_000
	// MaxNamedCost bounds what one use spends of a named limit (tokens
	// may count in the millions).
	MaxNamedCost  = 1_000_000_000
	maxPlanRoutes = 1000
)

// NewPlan returns a plan with the defaults, ready to be decoded into.
func NewPlan() *Plan { return &Plan{LimitBy: LimitByKey, Routes: []PlanRoute{}, Tags: []string{}} }

// Normalize makes nil lists empty and fills in defaults. Stores call it
// before they save.
func (p *Plan) Normalize() {
	p.Tags = orEmpty(p.Tags)
	if p.Routes == nil {
		p.Routes = []PlanRoute{}
	}
	if p.LimitBy == "" {
		p.LimitBy = LimitByKey
	}
}

// Validate reports the first invalid field. Route references are resolved
// by the caller.
func (p *Plan) Validate() error {
	if err := validateName("name", p.Name, true); err != nil {
		return err
	}
	if len(p.Description) > 1000 || hasControl(p.Description) {
		return Errorf(EINVALID, "description: at most 1000 characters, without control characters")
	}
	if err := validateRate("rate", "burst", p.Rate, p.Burst); err != nil {
		return err
	}
	if err := p.Quotas.validate("quotas"); err != nil {
		return err
	}
	switch p.LimitBy {
	case "", LimitByKey, LimitByConsumer, LimitByIP, LimitByRoute:
	default:
		return Errorf(EINVALID, "limit_by: must be one of key, consumer, ip, route")
	}
	if len(p.Routes) > maxPlanRoutes {
		return Errorf(EINVALID, "routes: at most %d entries", maxPlanRoutes)
	}
	seen := map[string]bool{}
	for i, r := range p.Routes {
		field := "routes[" + strconv.Itoa(i) + "]"
		if r.Route.IsZero() {
			return Errorf(EINVALID, "%s.route: required", field)
		}
		if seen[r.Route.String()] {
			return Errorf(EINVALID, "%s.route: listed twice", field)
		}
		seen[r.Route.String()] = true
		if r.Cost < 0 || r.Cost > MaxPlanCost {
			return Errorf(EINVALID, "%s.cost: must be between 1 and %d", field, MaxPlanCost)
		}
		if r.Rate != nil {
			if *r.Rate == 0 {
				return Errorf(EINVALID, "%s.rate: must be positive; leave it out to use the plan's", field)
			}
			if err := validateRate(field+".rate", field+".burst", *r.Rate, r.Burst); err != nil {
				return err
			}
		} else if r.Burst != 0 {
			return Errorf(EINVALID, "%s.burst: needs a rate of its own", field)
		}
		if r.Quotas != nil {
			if err := r.Quotas.validate(field + ".quotas"); err != nil {
				return err
			}
		}
	}
	if err := validateNamedLimits(p.Named); err != nil {
		return err
	}
	return validateTags(p.Tags)
}

func validateRate(rateField, burstField string, rate float64, burst int) error {
	if math.IsNaN(rate) || rate < 0 || rate > MaxPlanRate || (rate > 0 && rate < MinPlanRate) {
		return Errorf(EINVALID, "%s: must be 0 (none) or between %g and %g requests per second", rateField, MinPlanRate, MaxPlanRate)
	}
	if burst < 0 || burst > MaxPlanBurst {
		return Errorf(EINVALID, "%s: must be between 0 (the rate, rounded up) and %d", burstField, MaxPlanBurst)
	}
	if rate == 0 && burst != 0 {
		return Errorf(EINVALID, "%s: needs a rate", burstField)
	}
	return nil
}

func (q Quotas) validate(field string) error {
	for p := Minute; p <= Month; p++ {
		if n := q.Of(p); n < 0 || n > math.MaxInt64/2 {
			return Errorf(EINVALID, "%s.%s: must be 0 (none) or positive", field, p)
		}
	}
	return nil
}

// Limits compiles what one request to route counts against: the plan's
// limits with the route's adjustments, and the request's cost.
func (p *Plan) Limits(routeID string) (l Limits, cost int) {
	l.Rate = PerSecond(p.Rate, p.Burst)
	for i := range l.Quotas {
		l.Quotas[i].Limit = p.Quotas.Of(Period(i + 1))
	}
	cost = 1
	for _, r := range p.Routes {
		if r.Route.ID != routeID {
			continue
		}
		cost = max(r.Cost, 1)
		if r.Rate != nil {
			l.Rate, l.RateOnRoute = PerSecond(*r.Rate, r.Burst), true
		}
		if r.Quotas != nil {
			for i := range l.Quotas {
				if n := r.Quotas.Of(Period(i + 1)); n > 0 {
					l.Quotas[i] = Quota{Limit: n, OnRoute: true}
				}
			}
		}
	}
	return l, cost
}

// PlanStore persists plans. Every method is one transaction. Names are
// unique. A plan assigned to a consumer or to a key that can still be used
// cannot be deleted (ECONFLICT, saying how many of each use it). Keys that
// can no longer be used (revoked, archived, or expired at the store's now)
// do not hold a plan back: DeletePlan takes the plan off them, reported as
// Updated, and deletes it in the same transaction.
type PlanStore interface {
	CreatePlan(ctx context.Context, p *Plan) error
	// FindPlan looks a plan up by id or by name.
	FindPlan(ctx context.Context, ref string) (*Plan, error)
	ListPlans(ctx context.Context, pg Page) (plans []*Plan, next string, err error)
	UpdatePlan(ctx context.Context, ref string, update func(*Plan) error) (*Plan, error)
	DeletePlan(ctx context.Context, ref string) error
}

// Period is a calendar period a quota counts over, aligned in UTC.
type Period uint8

const (
	Minute Period = iota + 1
	Hour
	Day
	Month
)

// PeriodCount is the number of periods; Limits.Quotas is indexed by Period-1.
const PeriodCount = 4

// String names the period in lower case (minute, hour, day, month).
func (p Period) String() string {
	switch p {
	case Minute:
		return "minute"
	case Hour:
		return "hour"
	case Day:
		return "day"
	case Month:
		return "month"
	}
	return "unknown"
}

// Title names the period as response headers do (X-RateLimit-Limit-Minute).
func (p Period) Title() string {
	switch p {
	case Minute:
		return "Minute"
	case Hour:
		return "Hour"
	case Day:
		return "Day"
	case Month:
		return "Month"
	}
	return "Unknown"
}

// Window returns the start and end of the period that holds t, in UTC.
func (p Period) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case Minute:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case Hour:
		start = t.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case Day:
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case Month:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return t, t
}

// PlanOf is the id of the plan a key's requests are limited by: the key's
// own, else its consumer's; "" for none.
func PlanOf(k *APIKey, c *Consumer) string {
	if k != nil && k.Plan != nil {
		return k.Plan.ID
	}
	if c != nil && c.Plan != nil {
		return c.Plan.ID
	}
	return ""
}
