package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

func (a *adminCLI) analyticsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analytics",
		Short: "Show analytics: how keys were judged by the gateway and the verify API",
	}
	cmd.AddCommand(a.verificationAnalyticsCommand())
	return cmd
}

func (a *adminCLI) verificationAnalyticsCommand() *cobra.Command {
	var (
		groupBy, interval, from, to, key, consumer, service, source, outcome string
	)
	cmd := &cobra.Command{
		Use:   "verifications [--group-by outcome,consumer,key,service,source] [--interval hour|day] [--from T] [--to T] [filters]",
		Short: "Count keys judged per hour or day, by outcome code, consumer, key, service or source",
		Long: `Count how often keys were judged, by gateway requests and verify API calls
alike, in the hours from --from up to --to (default: the day before now),
per --interval (hour or day; default hour) and per value of the --group-by
fields (outcome, consumer, key, service, source; default outcome). The
filters narrow the counts to one key, consumer, service, source (gateway or
verify) or outcome code (VALID, REVOKED, RATE_LIMITED, ...).`,
		Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			q := client.VerificationQuery{Interval: keygate.Granularity(interval), Key: key, Consumer: consumer, Service: service,
				Source: keygate.VerificationSource(source), Outcome: keygate.VerifyCode(strings.ToUpper(outcome))}
			for g := range strings.SplitSeq(groupBy, ",") {
				if g = strings.TrimSpace(g); g != "" {
					q.GroupBy = append(q.GroupBy, g)
				}
			}
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
			res, err := c.VerificationAnalytics(cmd.Context(), q)
			if err != nil {
				return err
			}
			if res.Data == nil {
				res.Data = []keygate.VerificationRow{}
			}
			header := []string{"START"}
			for _, g := range keygate.VerificationGroups {
				if slices.Contains(res.GroupBy, g) {
					header = append(header, strings.ToUpper(g))
				}
			}
			header = append(header, "COUNT")
			rows := make([][]string, len(res.Data))
			for i, r := range res.Data {
				row := []string{r.Start.UTC().Format(time.RFC3339)}
				for _, g := range keygate.VerificationGroups {
					if !slices.Contains(res.GroupBy, g) {
						continue
					}
					v := map[string]string{keygate.GroupByOutcome: string(r.Code), keygate.GroupByConsumer: r.ConsumerID,
						keygate.GroupByKey: r.KeyID, keygate.GroupByService: r.ServiceID, keygate.GroupBySource: string(r.Source)}[g]
					row = append(row, cmp.Or(v, "-"))
				}
				rows[i] = append(row, strconv.FormatInt(r.Count, 10))
			}
			if err := a.show(cmd, res, header, rows...); err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "verifications from %s to %s by %s\n",
					res.From.UTC().Format(time.RFC3339), res.To.UTC().Format(time.RFC3339), res.Interval)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&groupBy, "group-by", keygate.GroupByOutcome, "fields to count by, comma-separated: outcome, consumer, key, service, source")
	f.StringVar(&interval, "interval", "", "hour or day (default hour)")
	f.StringVar(&from, "from", "", "start, inclusive: RFC 3339 time or date (default: a day before --to)")
	f.StringVar(&to, "to", "", "end, exclusive: RFC 3339 time or date (default: now)")
	f.StringVar(&key, "key", "", "only this key (id)")
	f.StringVar(&consumer, "consumer", "", "only this consumer's keys (id or username)")
	f.StringVar(&service, "service", "", "only checks for this service (id or name)")
	f.StringVar(&source, "source", "", "only gateway requests (gateway) or verify calls (verify)")
	f.StringVar(&outcome, "outcome", "", "only this outcome code (VALID, REVOKED, RATE_LIMITED, ...)")
	return cmd
}
