package console

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keygate/keygate"
)

// The usage page: requests allowed and rejected over time for everything
// or one consumer, key or route, drawn as an SVG on the server (no script,
// no CDN, nothing inline the CSP would refuse: colours come from the
// stylesheet); the consumers that called most; a consumer's or key's
// quota consumption against its plan; and the same rows as CSV.

// usageRanges are the ranges the page offers: how far back, in buckets of
// which granularity.
var usageRanges = map[string]struct {
	n    int
	gran keygate.Granularity
	step time.Duration
}{
	"24h": {24, keygate.ByHour, time.Hour},
	"7d":  {7 * 24, keygate.ByHour, time.Hour},
	"30d": {30, keygate.ByDay, 24 * time.Hour},
}

// usageRowsCap bounds the rows one page sums; a wider query is refused by
// the store, and the page asks to narrow it.
const usageRowsCap = 50_000

type usageFilter struct {
	Consumer, Key, Route string // as entered
	Range                string
	q                    keygate.UsageQuery
	consumer             *keygate.Consumer
	key                  *keygate.APIKey
	step                 time.Duration
	n                    int
}

// Query is the filter as a query string, for links (CSV, paging).
func (f *usageFilter) Query() string {
	v := url.Values{"range": {f.Range}}
	for k, s := range map[string]string{"consumer": f.Consumer, "key": f.Key, "route": f.Route} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

func (s *Server) usageFilter(ctx context.Context, q url.Values) (*usageFilter, error) {
	f := &usageFilter{Consumer: strings.TrimSpace(q.Get("consumer")), Key: strings.TrimSpace(q.Get("key")),
		Route: strings.TrimSpace(q.Get("route")), Range: cmp.Or(q.Get("range"), "24h")}
	rg, ok := usageRanges[f.Range]
	if !ok {
		return nil, keygate.Errorf(keygate.EINVALID, "Range: 24h, 7d or 30d.")
	}
	for _, v := range []string{f.Consumer, f.Key, f.Route} {
		if len(v) > 200 {
			return nil, keygate.Errorf(keygate.EINVALID, "Filters: at most 200 characters each.")
		}
	}
	f.step, f.n = rg.step, rg.n
	p, _ := rg.gran.Period()
	now := s.cfg.Now().UTC()
	first, _ := p.Window(now)
	if rg.gran == keygate.ByDay {
		first = first.AddDate(0, 0, -(rg.n - 1))
	} else {
		first = first.Add(-time.Duration(rg.n-1) * rg.step)
	}
	f.q = keygate.UsageQuery{From: first, To: now.Add(time.Minute).Truncate(time.Minute), Granularity: rg.gran, Limit: usageRowsCap}
	var err error
	notFound := func(field, v string, err error) error {
		if keygate.ErrorCode(err) == keygate.ENOTFOUND {
			return keygate.Errorf(keygate.EINVALID, "%s: no %s %q.", field, strings.ToLower(field), v)
		}
		return err
	}
	if f.Consumer != "" {
		if f.consumer, err = s.cfg.Store.FindConsumer(ctx, f.Consumer); err != nil {
			return nil, notFound("Consumer", f.Consumer, err)
		}
		f.q.ConsumerID = f.consumer.ID
	}
	if f.Key != "" {
		k, err := s.cfg.Store.FindKey(ctx, f.Key)
		switch keygate.ErrorCode(err) {
		case "":
			f.key, f.q.CredentialID = k, k.ID
		case keygate.ENOTFOUND: // an HMAC credential's usage is recorded under its id too
			hc, herr := s.cfg.Store.FindHMACCredential(ctx, f.Key)
			if herr != nil {
				return nil, notFound("Key", f.Key, herr)
			}
			f.q.CredentialID = hc.ID
		default:
			return nil, err
		}
	}
	if f.Route != "" {
		rt, err := s.cfg.Store.FindRoute(ctx, f.Route)
		if err != nil {
			return nil, notFound("Route", f.Route, err)
		}
		f.q.RouteID = rt.ID
	}
	return f, nil
}

type bucket struct {
	Start             time.Time
	Allowed, Rejected int64
}

type topConsumer struct {
	ID, Name          string
	Allowed, Rejected int64
}

type quotaUse struct {
	Period  string
	Used    int64
	Limit   int64
	Percent int
}

type usageData struct {
	Filter   *usageFilter
	Ranges   []string
	Chart    template.HTML
	Buckets  []bucket
	Allowed  int64
	Rejected int64
	Top      []topConsumer
	Plan     *keygate.Plan
	Quotas   []quotaUse
	Message  string
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	d := &usageData{Ranges: []string{"24h", "7d", "30d"}}
	f, err := s.usageFilter(ctx, r.URL.Query())
	if keygate.ErrorCode(err) == keygate.EINVALID {
		d.Filter = &usageFilter{Range: "24h"}
		d.Message = keygate.ErrorMessage(err)
		return s.render(w, r, http.StatusBadRequest, "usage", sessionFrom(ctx), "Usage", d)
	} else if err != nil {
		return err
	}
	d.Filter = f
	rows, err := s.cfg.Store.Usage(ctx, f.q)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		d.Message = "Too much usage to draw at once: choose a consumer, key or route, or a shorter range."
		return s.render(w, r, http.StatusBadRequest, "usage", sessionFrom(ctx), "Usage", d)
	} else if err != nil {
		return err
	}
	d.Buckets = buckets(f, rows)
	for _, b := range d.Buckets {
		d.Allowed += b.Allowed
		d.Rejected += b.Rejected
	}
	d.Chart = chart(d.Buckets, f.step)
	if d.Top, err = s.topConsumers(ctx, rows, 10); err != nil {
		return err
	}
	if err := s.quotaUse(ctx, f, d); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "usage", sessionFrom(ctx), "Usage", d)
}

// buckets sums rows per bucket, with every bucket of the range present.
func buckets(f *usageFilter, rows []keygate.UsageRow) []bucket {
	out := make([]bucket, f.n)
	index := map[time.Time]int{}
	for i := range out {
		if f.q.Granularity == keygate.ByDay {
			out[i].Start = f.q.From.AddDate(0, 0, i)
		} else {
			out[i].Start = f.q.From.Add(time.Duration(i) * f.step)
		}
		index[out[i].Start] = i
	}
	for _, r := range rows {
		if i, ok := index[r.Start.UTC()]; ok {
			out[i].Allowed += r.Allowed
			out[i].Rejected += r.Rejected
		}
	}
	return out
}

func (s *Server) topConsumers(ctx context.Context, rows []keygate.UsageRow, n int) ([]topConsumer, error) {
	sums := map[string]*topConsumer{}
	for _, r := range rows {
		t := sums[r.ConsumerID]
		if t == nil {
			t = &topConsumer{ID: r.ConsumerID}
			sums[r.ConsumerID] = t
		}
		t.Allowed += r.Allowed
		t.Rejected += r.Rejected
	}
	top := make([]topConsumer, 0, len(sums))
	for _, t := range sums {
		if t.ID != "" {
			top = append(top, *t)
		}
	}
	slices.SortFunc(top, func(a, b topConsumer) int {
		return cmp.Or(cmp.Compare(b.Allowed+b.Rejected, a.Allowed+a.Rejected), cmp.Compare(a.ID, b.ID))
	})
	top = top[:min(n, len(top))]
	ids := make([]string, len(top))
	for i, t := range top {
		ids[i] = t.ID
	}
	names, err := s.consumerNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range top {
		top[i].Name = names[top[i].ID]
	}
	return top, nil
}

// quotaUse compares, for a chosen consumer or key with a plan, the
// requests allowed in each quota's current period with the quota.
func (s *Server) quotaUse(ctx context.Context, f *usageFilter, d *usageData) error {
	c := f.consumer
	if f.key != nil && c == nil {
		var err error
		if c, err = s.cfg.Store.FindConsumer(ctx, f.key.Consumer.ID); err != nil {
			return err
		}
	}
	if c == nil && f.key == nil {
		return nil
	}
	planID := keygate.PlanOf(f.key, c)
	if planID == "" {
		return nil
	}
	plan, err := s.cfg.Store.FindPlan(ctx, planID)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	d.Plan = plan
	now := s.cfg.Now().UTC()
	for p := keygate.Minute; p <= keygate.Month; p++ {
		limit := plan.Quotas.Of(p)
		if limit == 0 {
			continue
		}
		start, _ := p.Window(now)
		q := keygate.UsageQuery{ConsumerID: c.ID, From: start, To: now.Add(time.Minute).Truncate(time.Minute),
			Granularity: keygate.ByMonth, Limit: usageRowsCap}
		if f.key != nil && plan.LimitBy != keygate.LimitByConsumer {
			q.CredentialID = f.key.ID
		}
		rows, err := s.cfg.Store.Usage(ctx, q)
		if err != nil {
			return err
		}
		var used int64
		for _, r := range rows {
			used += r.Allowed
		}
		d.Quotas = append(d.Quotas, quotaUse{Period: p.String(), Used: used, Limit: limit, Percent: int(min(100, used*100/limit))})
	}
	return nil
}

// Chart geometry, in SVG user units; the SVG scales to its box.
const (
	chartW, chartH = 720, 240
	chartLeft      = 48 // room for the y axis labels
	chartBottom    = 24 // room for the x axis labels
	chartTop       = 12 // room for the top y label
)

// chart draws buckets as stacked bars, allowed below rejected. Every value
// in it is a number or a time the server formatted; the text is escaped.
func chart(bs []bucket, step time.Duration) template.HTML {
	var peak int64
	for _, b := range bs {
		peak = max(peak, b.Allowed+b.Rejected)
	}
	top := niceCeil(peak)
	plotW, plotH := float64(chartW-chartLeft), float64(chartH-chartBottom-chartTop)
	var b strings.Builder
	var allowed, rejected int64
	for _, x := range bs {
		allowed += x.Allowed
		rejected += x.Rejected
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title">`, chartW, chartH)
	fmt.Fprintf(&b, `<title id="chart-title">Requests per %s: %d allowed, %d rejected in all</title>`, stepName(step), allowed, rejected)
	for i := 0; i <= 4; i++ { // grid lines and y labels
		y := chartTop + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW, y, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-6, y+4, short(top*int64(i)/4))
	}
	if len(bs) > 0 {
		bw := plotW / float64(len(bs))
		gap := min(bw*0.15, 3)
		every := max(1, len(bs)/6)
		for i, x := range bs {
			left := float64(chartLeft) + float64(i)*bw + gap/2
			ha := plotH * float64(x.Allowed) / float64(top)
			hr := plotH * float64(x.Rejected) / float64(top)
			fmt.Fprintf(&b, `<g><title>%s: %d allowed, %d rejected</title>`, template.HTMLEscapeString(bucketLabel(x.Start, step)), x.Allowed, x.Rejected)
			fmt.Fprintf(&b, `<rect class="allowed" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, left, chartTop+plotH-ha, bw-gap, ha)
			fmt.Fprintf(&b, `<rect class="rejected" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></g>`, left, chartTop+plotH-ha-hr, bw-gap, hr)
			// Many hours: a tick at each midnight, labelled with the day.
			days := step < 24*time.Hour && len(bs) > 48
			if days && x.Start.Hour() == 0 || !days && i%every == 0 {
				label := tickLabel(x.Start, step)
				if days {
					label = x.Start.Format("Jan 2")
				}
				fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d">%s</text>`, left, chartH-6, template.HTMLEscapeString(label))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above from numbers and escaped text
}

// niceCeil rounds n up to 1, 2, 4, 5, 6 or 8 times a power of ten divisible by 4 (at least 4, so
// the four grid steps are whole numbers).
func niceCeil(n int64) int64 {
	if n <= 4 {
		return 4
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 4, 5, 6, 8} {
			if m*p >= n && (m*p)%4 == 0 {
				return m * p
			}
		}
	}
}

func short(n int64) string {
	switch {
	case n >= 10_000_000:
		return strconv.FormatInt(n/1_000_000, 10) + "M"
	case n >= 10_000:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

func stepName(step time.Duration) string {
	if step >= 24*time.Hour {
		return "day"
	}
	return "hour"
}

func bucketLabel(t time.Time, step time.Duration) string {
	if step >= 24*time.Hour {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

func tickLabel(t time.Time, step time.Duration) string {
	if step >= 24*time.Hour {
		return t.Format("Jan 2")
	}
	return t.Format("Jan 2 15h")
}

// usageCSV downloads the rows the page sums, as GET /v1/usage?format=csv.
func (s *Server) usageCSV(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f, err := s.usageFilter(ctx, r.URL.Query())
	if err != nil {
		return err
	}
	rows, err := s.cfg.Store.Usage(ctx, f.q)
	if keygate.ErrorCode(err) == keygate.EINVALID {
		return keygate.Errorf(keygate.EINVALID, "Too much usage for one download: choose a consumer, key or route, or a shorter range (or use GET /v1/usage).")
	} else if err != nil {
		return err
	}
	var b strings.Builder
	cw := csv.NewWriter(&b)
	cw.Write([]string{"start", "consumer_id", "credential_id", "route_id", "allowed", "rejected", "bytes_in", "bytes_out"})
	for _, u := range rows {
		cw.Write([]string{u.Start.UTC().Format(time.RFC3339), u.ConsumerID, u.CredentialID, u.RouteID,
			strconv.FormatInt(u.Allowed, 10), strconv.FormatInt(u.Rejected, 10), strconv.FormatInt(u.BytesIn, 10), strconv.FormatInt(u.BytesOut, 10)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="keygate-usage-%s.csv"`, s.cfg.Now().UTC().Format("20060102-1504")))
	_, err = w.Write([]byte(b.String()))
	return err
}
