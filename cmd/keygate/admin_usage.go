package main

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var usageHeader = []string{"START", "CONSUMER", "CREDENTIAL", "ROUTE", "ALLOWED", "REJECTED", "BYTES-IN", "BYTES-OUT", "VERIFIED", "VERIFY-REJECTED"}

func usageRow(u keygate.UsageRow) []string {
	return []string{u.Start.UTC().Format(time.RFC3339), cmp.Or(u.ConsumerID, "-"), cmp.Or(u.CredentialID, "-"), cmp.Or(u.RouteID, "-"),
		strconv.FormatInt(u.Allowed, 10), strconv.FormatInt(u.Rejected, 10), strconv.FormatInt(u.BytesIn, 10), strconv.FormatInt(u.BytesOut, 10),
		strconv.FormatInt(u.Verified, 10), strconv.FormatInt(u.VerifyRejected, 10)}
}

// usageCSVHeader is the header row of --csv: the API's format=csv, the
// JSON rows' field names.
var usageCSVHeader = []string{"start", "consumer_id", "credential_id", "route_id", "allowed", "rejected", "bytes_in", "bytes_out", "verified", "verify_rejected"}

// writeUsageCSV writes rows as the API's format=csv does.
func writeUsageCSV(w io.Writer, rows []keygate.UsageRow) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(usageCSVHeader) // cw.Error reports any failure
	for _, u := range rows {
		_ = cw.Write([]string{u.Start.UTC().Format(time.RFC3339), u.ConsumerID, u.CredentialID, u.RouteID,
			strconv.FormatInt(u.Allowed, 10), strconv.FormatInt(u.Rejected, 10),
			strconv.FormatInt(u.BytesIn, 10), strconv.FormatInt(u.BytesOut, 10),
			strconv.FormatInt(u.Verified, 10), strconv.FormatInt(u.VerifyRejected, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// usageTime parses --from or --to: an RFC 3339 time, or a date (midnight UTC).
func usageTime(flag, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s: must be an RFC 3339 time such as 2030-01-02T15:04:05Z or a date such as 2030-01-02 (midnight UTC)", flag)
}

func (a *adminCLI) usageCommand() *cobra.Command {
	var (
		consumer, key, route, from, to, granularity string
		csvOut                                      bool
	)
	cmd := &cobra.Command{
		Use:   "usage [--consumer C] [--key K] [--route R] [--from T] [--to T] [--granularity G] [--csv|--json]",
		Short: "Show recorded usage: requests allowed and rejected, and bytes, per consumer, credential and route",
		Long: `Show the usage recorded in the minutes from --from up to --to (default: the
day before now), summed per --granularity (minute, hour, day or month;
default hour) and per consumer, credential and route. --csv writes CSV, with
a header row, for billing exports.`,
		Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if csvOut && a.json {
				return errors.New("--csv and --json exclude each other")
			}
			q := client.UsageQuery{Consumer: consumer, Key: key, Route: route, Granularity: keygate.Granularity(granularity)}
			var err error
			if from != "" {
				if q.From, err = usageTime("from", from); err != nil {
					return err
				}
			}
			if to != "" {
				if q.To, err = usageTime("to", to); err != nil {
					return err
				}
			}
			res, err := c.Usage(cmd.Context(), q)
			if err != nil {
				return err
			}
			if csvOut {
				return writeUsageCSV(cmd.OutOrStdout(), res.Data)
			}
			if res.Data == nil {
				res.Data = []keygate.UsageRow{}
			}
			rows := make([][]string, len(res.Data))
			for i, u := range res.Data {
				rows[i] = usageRow(u)
			}
			if err := a.show(cmd, res, usageHeader, rows...); err != nil {
				return err
			}
			if !a.json {
				// On stderr, as list's next-page hint, so stdout stays a clean table.
				fmt.Fprintf(cmd.ErrOrStderr(), "usage from %s to %s by %s\n",
					res.From.UTC().Format(time.RFC3339), res.To.UTC().Format(time.RFC3339), res.Granularity)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&consumer, "consumer", "", "only this consumer's usage (id or username)")
	f.StringVar(&key, "key", "", "only this credential's usage (API key or HMAC credential id)")
	f.StringVar(&route, "route", "", "only this route's usage (id or name)")
	f.StringVar(&from, "from", "", "start, inclusive: RFC 3339 time or date (default: a day before --to)")
	f.StringVar(&to, "to", "", "end, exclusive: RFC 3339 time or date (default: now)")
	f.StringVar(&granularity, "granularity", "", "bucket size: minute, hour, day or month (default hour)")
	f.BoolVar(&csvOut, "csv", false, "write CSV with a header row (start,consumer_id,credential_id,route_id,allowed,rejected,bytes_in,bytes_out,verified,verify_rejected)")
	return cmd
}
