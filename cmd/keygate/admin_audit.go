package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var auditHeader = []string{"AT", "ACTOR", "ACTION", "TARGET", "REASON"}

func auditRow(e *keygate.AuditEvent) []string {
	reason := e.Reason
	if reason == "" {
		reason = "-"
	}
	return []string{e.At.Format("2006-01-02 15:04:05Z07:00"), e.Actor, e.Action, e.TargetID, reason}
}

func (a *adminCLI) auditCommand() *cobra.Command {
	var (
		f     keygate.AuditFilter
		since string
		page  keygate.Page
	)
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit trail: who did what to which record, when and why"}
	list := &cobra.Command{
		Use:   "list [--target ID] [--actor A] [--action key.revoked] [--since RFC3339]",
		Short: "List audit events, oldest first",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					return fmt.Errorf("--since: must be an RFC 3339 time such as 2030-01-02T15:04:05Z")
				}
				f.Since = t
			}
			items, next, err := c.Audit(cmd.Context(), f, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, auditHeader, auditRow)
		}),
	}
	list.Flags().StringVar(&f.TargetID, "target", "", "only events about this record id")
	list.Flags().StringVar(&f.Actor, "actor", "", "only events by this actor (admin:<token name>, key:<id>, system:lifecycle, ...)")
	list.Flags().StringVar(&f.Action, "action", "", "only this action, such as key.revoked")
	list.Flags().StringVar(&since, "since", "", "only events at or after this time")
	pageFlags(list, &page)
	cmd.AddCommand(list)
	return cmd
}
