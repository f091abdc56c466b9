package adminapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	"github.com/keygate/keygate"
)

// Bounds of a usage query. The range covers a year's monthly export with
// room to spare; the rows cap keeps one answer to a few megabytes, and a
// query over it is refused (by the store) rather than cut short, so that a
// bill is never summed from part of the rows.
const (
	defaultUsageRange = 24 * time.Hour
	maxUsageRange     = 400 * 24 * time.Hour
)

// maxUsageRows is a variable for the tests' sake only.
var maxUsageRows = 50_000

// usageParams are the query parameters GET /v1/usage accepts. Any other is
// refused: a misspelt filter must not silently widen a billing export to
// every consumer.
var usageParams = map[string]bool{"consumer": true, "key": true, "route": true, "from": true, "to": true, "granularity": true, "format": true}

// usageCSVHeader is the header row of format=csv, the JSON rows' field names.
var usageCSVHeader = []string{"start", "consumer_id", "credential_id", "route_id", "allowed", "rejected", "bytes_in", "bytes_out", "verified", "verify_rejected"}

// usageResponse is the JSON answer of GET /v1/usage: the rows and the
// range and granularity they were summed over, defaults filled in.
type usageResponse struct {
	Data        []keygate.UsageRow  `json:"data"`
	From        time.Time           `json:"from"`
	To          time.Time           `json:"to"`
	Granularity keygate.Granularity `json:"granularity"`
}

// usage answers GET /v1/usage?consumer=&key=&route=&from=&to=&granularity=&format=:
// the usage recorded in the minutes that start in [from, to), summed per
// bucket of granularity (minute, hour, day or month; default hour) and per
// consumer, credential and route. to defaults to now and from to a day
// before to. consumer is an id or a username, route an id or a name, key
// the id of an API key or an HMAC credential. format=csv answers CSV.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	for name, values := range q {
		if !usageParams[name] {
			return keygate.Errorf(keygate.EINVALID, "unknown query parameter %q: use consumer, key, route, from, to, granularity or format", truncate(name, 64))
		}
		if len(values) > 1 {
			return keygate.Errorf(keygate.EINVALID, "%s: given more than once", name)
		}
	}

	uq := keygate.UsageQuery{Granularity: keygate.ByHour, Limit: maxUsageRows}
	if v := q.Get("granularity"); v != "" {
		if _, ok := keygate.Granularity(v).Period(); !ok {
			return keygate.Errorf(keygate.EINVALID, "granularity: must be one of minute, hour, day, month")
		}
		uq.Granularity = keygate.Granularity(v)
	}
	csvOut := false
	switch q.Get("format") {
	case "", "json":
	case "csv":
		csvOut = true
	default:
		return keygate.Errorf(keygate.EINVALID, "format: must be json or csv")
	}

	var err error
	uq.To = s.now().UTC()
	if q.Has("to") {
		if uq.To, err = queryTime(q.Get("to"), "to"); err != nil {
			return err
		}
	}
	uq.From = uq.To.Add(-defaultUsageRange)
	if q.Has("from") {
		if uq.From, err = queryTime(q.Get("from"), "from"); err != nil {
			return err
		}
	}
	if !uq.From.Before(uq.To) {
		return keygate.Errorf(keygate.EINVALID, "from: must be before to")
	}
	if uq.To.Sub(uq.From) > maxUsageRange {
		return keygate.Errorf(keygate.EINVALID, "from: at most %d days before to", int(maxUsageRange/(24*time.Hour)))
	}

	if q.Has("consumer") {
		if uq.ConsumerID, err = lookup(ctx, "consumer", "consumer", q.Get("consumer"), s.consumerID); err != nil {
			return err
		}
	}
	if q.Has("key") {
		if uq.CredentialID, err = lookup(ctx, "key", "key", q.Get("key"), s.credentialID); err != nil {
			return err
		}
	}
	if q.Has("route") {
		if uq.RouteID, err = lookup(ctx, "route", "route", q.Get("route"), s.routeID); err != nil {
			return err
		}
	}

	rows, err := s.Store.Usage(ctx, uq)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []keygate.UsageRow{}
	}
	if csvOut {
		return replyUsageCSV(w, rows)
	}
	return reply(w, http.StatusOK, usageResponse{Data: rows, From: uq.From, To: uq.To, Granularity: uq.Granularity})
}

func replyUsageCSV(w http.ResponseWriter, rows []keygate.UsageRow) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(usageCSVHeader) // a bytes.Buffer does not fail; cw.Error says if anything did
	for _, u := range rows {
		_ = cw.Write([]string{u.Start.UTC().Format(time.RFC3339), u.ConsumerID, u.CredentialID, u.RouteID,
			strconv.FormatInt(u.Allowed, 10), strconv.FormatInt(u.Rejected, 10),
			strconv.FormatInt(u.BytesIn, 10), strconv.FormatInt(u.BytesOut, 10),
			strconv.FormatInt(u.Verified, 10), strconv.FormatInt(u.VerifyRejected, 10)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to tell it
	return nil
}

// queryTime parses a query parameter's RFC 3339 time, in UTC.
func queryTime(v, field string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, keygate.Errorf(keygate.EINVALID, "%s: must be an RFC 3339 time such as 2030-01-02T15:04:05Z", field)
	}
	return t.UTC(), nil
}

// lookup turns a reference in a query's filter into an id. Unlike resolve
// (a reference in a body), an unknown entity is a 404: what the URL asks
// about does not exist.
func lookup(ctx context.Context, field, kind, ref string, find func(context.Context, string) (string, error)) (string, error) {
	if ref == "" || len(ref) > 128 {
		return "", keygate.Errorf(keygate.EINVALID, "%s: must name a %s", field, kind)
	}
	id, err := find(ctx, ref)
	if keygate.ErrorCode(err) == keygate.ENOTFOUND {
		return "", keygate.Errorf(keygate.ENOTFOUND, "%s: no %s %q", field, kind, ref)
	}
	return id, err
}

func (s *Server) consumerID(ctx context.Context, ref string) (string, error) {
	c, err := s.Store.FindConsumer(ctx, ref)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// credentialID finds an API key or, failing that, an HMAC credential by
// id: usage is counted per credential, of either kind.
func (s *Server) credentialID(ctx context.Context, id string) (string, error) {
	k, err := s.Store.FindKey(ctx, id)
	if err == nil {
		return k.ID, nil
	}
	if keygate.ErrorCode(err) != keygate.ENOTFOUND {
		return "", err
	}
	c, err := s.Store.FindHMACCredential(ctx, id)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
