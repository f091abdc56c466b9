package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/auditchain"
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
	cmd.AddCommand(list, a.auditVerifyCommand(), a.auditExportCommand(), a.auditHeadCommand())
	return cmd
}

func (a *adminCLI) auditVerifyCommand() *cobra.Command {
	var (
		anchorFile string
		anchor     keygate.AuditHead
		onServer   bool
		offline    Config
	)
	cmd := &cobra.Command{
		Use:   "verify [--anchor head.json | --anchor-seq N --anchor-hash H] [--on-server | --data-dir DIR | --store URL]",
		Short: "Verify the audit trail's hash chain; exit 1 naming the first edited, removed, reordered or inserted entry",
		Long: `Verify reads the whole audit trail in chain order and checks every entry's hash and its link to the
entry before it, here in the CLI (or, with --on-server, on the server). Against an anchor saved earlier with
"keygate audit head", it also finds a removed tail, which nothing else can.

With --data-dir or --store it reads the store directly instead of the admin API (no token needed): a data
dir restored from a backup, a PostgreSQL database, a copy of either.`,
		Args: cobra.NoArgs,
	}
	verify := func(cmd *cobra.Command, c *client.Client, store keygate.Store) error {
		{
			var at *keygate.AuditHead
			switch {
			case anchorFile != "" && (anchor.Seq != 0 || anchor.Hash != ""):
				return errors.New("--anchor and --anchor-seq/--anchor-hash: give one or the other")
			case anchorFile != "":
				b, err := os.ReadFile(anchorFile)
				if err != nil {
					return fmt.Errorf("--anchor: %w", err)
				}
				var h keygate.AuditHead
				if err := json.Unmarshal(b, &h); err != nil || h.Seq < 1 || len(h.Hash) != 64 {
					return fmt.Errorf("--anchor: %s is not the output of keygate audit head (seq and hash)", anchorFile)
				}
				at = &h
			case anchor.Seq != 0 || anchor.Hash != "":
				if anchor.Seq < 1 || len(anchor.Hash) != 64 {
					return errors.New("--anchor-seq and --anchor-hash: both required, as keygate audit head prints them")
				}
				at = &anchor
			}
			var r *auditchain.Report
			var reader auditchain.Reader = c
			if store != nil {
				reader = store
			}
			if onServer {
				var err error
				if r, err = c.VerifyAudit(cmd.Context(), at); err != nil {
					return err
				}
			} else {
				rep, err := auditchain.Verify(auditchain.Events(cmd.Context(), reader), at)
				if err != nil {
					return err
				}
				r = &rep
			}
			if a.json {
				if err := a.show(cmd, r, nil); err != nil {
					return err
				}
			}
			if !r.OK() {
				if !a.json {
					fmt.Fprintf(cmd.ErrOrStderr(), "audit trail TAMPERED: entry %d: %s: %s\n", r.Problem.Seq, r.Problem.Kind, r.Problem.Detail)
				}
				return errReported
			}
			if !a.json {
				fmt.Fprintf(cmd.OutOrStdout(), "audit trail OK: %d entries (%d before the chain), head %d %s\n",
					r.Entries, r.Legacy, r.Head.Seq, r.Head.Hash)
			}
			return nil
		}
	}
	online := a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error { return verify(cmd, c, nil) })
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !cmd.Flags().Changed("data-dir") && !cmd.Flags().Changed("store") {
			return online(cmd, args)
		}
		if onServer {
			return errors.New("--on-server: not with --data-dir or --store, which read the store here")
		}
		offline.loadLocal(cmd)
		store, err := offline.openStore(cmd.Context(), nil, nil, true)
		if err == nil {
			defer store.Close()
			err = verify(cmd, nil, store)
		}
		if err != nil && !errors.Is(err, errReported) {
			fmt.Fprintf(cmd.ErrOrStderr(), "error: %v\n", err)
			return errReported
		}
		return err
	}
	cmd.Flags().StringVar(&offline.DataDir, "data-dir", "./data", "read the SQLite store in this data dir directly, not through the admin API")
	cmd.Flags().StringVar(&offline.Store, "store", "", "read this PostgreSQL store directly, not through the admin API (postgres://...)")
	cmd.Flags().StringVar(&offline.StoreSchema, "store-schema", "", "PostgreSQL schema of keygate's tables, with --store")
	cmd.Flags().StringVar(&anchorFile, "anchor", "", "a file holding the output of keygate audit head, saved earlier")
	cmd.Flags().Int64Var(&anchor.Seq, "anchor-seq", 0, "the seq of an anchor saved earlier")
	cmd.Flags().StringVar(&anchor.Hash, "anchor-hash", "", "the hash of an anchor saved earlier")
	cmd.Flags().BoolVar(&onServer, "on-server", false, "have the server verify (GET /v1/audit/verify) instead of the CLI")
	return cmd
}

func (a *adminCLI) auditExportCommand() *cobra.Command {
	var (
		format, output string
		after          int64
		follow         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "export --format jsonl [--output FILE] [--after SEQ] [--follow 1s]",
		Short: "Write the audit trail as JSON lines, in chain order, chain fields included",
		Long: `Export writes every audit entry (or those after --after SEQ) as JSON lines, in chain order, with seq,
prev_hash and hash, which scripts/audit-verify.py re-verifies without keygate. With --follow it keeps going,
writing each new entry as it is sealed, until interrupted: pipe it to a log shipper or syslog
(| logger -t keygate-audit) and restart it with --after the last seq it wrote to resume without a gap.`,
		Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if format != "jsonl" {
				return fmt.Errorf("--format: %q is not supported; jsonl is", format)
			}
			var w io.Writer = cmd.OutOrStdout()
			if output != "" {
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer f.Close()
				w = f
			}
			if after < 0 || follow < 0 {
				return errors.New("--after and --follow: must not be negative")
			}
			events := auditchain.Events(cmd.Context(), c)
			if after > 0 || follow > 0 {
				events = auditchain.Follow(cmd.Context(), c, after, follow)
			}
			n, err := auditchain.Export(w, events)
			if err != nil {
				return err
			}
			if output != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "Exported %d audit entries to %s.\n", n, output)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "output format: jsonl")
	cmd.Flags().StringVar(&output, "output", "", "write to this new file instead of stdout")
	cmd.Flags().Int64Var(&after, "after", 0, "only entries with a greater seq (resume a stream)")
	cmd.Flags().DurationVar(&follow, "follow", 0, "keep writing new entries, looking this often (e.g. 1s), until interrupted")
	return cmd
}

func (a *adminCLI) auditHeadCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "head",
		Short: "Print the newest audit entry's seq and hash as JSON: keep it outside keygate as an anchor for audit verify",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			h, err := c.AuditHead(cmd.Context())
			if err != nil {
				return err
			}
			b, err := json.Marshal(h)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		}),
	}
}
