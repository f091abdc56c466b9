package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/keyring"
)

func (a *adminCLI) keyringCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "Show, rotate, rewrap and retire keyring versions"}
	cmd.AddCommand(&cobra.Command{
		Use: "status", Short: "Show the keyring's versions and how many data keys each wraps", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			s, err := c.KeyringStatus(cmd.Context())
			if err != nil {
				return err
			}
			return a.showKeyring(cmd, s)
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use: "rotate", Short: "Add a keyring version; every new data key is wrapped by it", Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			s, err := c.RotateKeyring(cmd.Context())
			if err != nil {
				return err
			}
			return a.showKeyring(cmd, s)
		}),
	})
	var batch int
	var quiet bool
	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Re-wrap every data key under the newest version, in batches (resumable: run it again)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			s, err := c.KeyringStatus(cmd.Context())
			if err != nil {
				return err
			}
			total, moved := s.Remaining, 0
			bar := newProgressBar(cmd.ErrOrStderr(), "rewrap", "data keys", quiet || a.json)
			for s.Remaining > 0 {
				r, err := c.RewrapKeyring(cmd.Context(), batch)
				if err != nil {
					bar.done()
					return err
				}
				moved += r.Rewrapped
				if r.Remaining >= s.Remaining && r.Rewrapped == 0 {
					bar.done()
					return fmt.Errorf("rewrap made no progress (%d data keys remain)", r.Remaining)
				}
				s = &r.Status
				total = max(total, moved+s.Remaining) // keys sealed meanwhile under old versions
				bar.update(moved, total)
			}
			bar.done()
			return a.showKeyring(cmd, s)
		}),
	}
	rewrap.Flags().IntVar(&batch, "batch-size", 500, "data keys per request (1-10000)")
	rewrap.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.AddCommand(rewrap)
	cmd.AddCommand(&cobra.Command{
		Use: "retire VERSION", Short: "Delete a keyring version no data key uses any more", Args: cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			v, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("VERSION: %q is not a number", args[0])
			}
			if err := c.RetireKeyringVersion(cmd.Context(), v); err != nil {
				return err
			}
			s, err := c.KeyringStatus(cmd.Context())
			if err != nil {
				return err
			}
			return a.showKeyring(cmd, s)
		}),
	})
	return cmd
}

func (a *adminCLI) showKeyring(cmd *cobra.Command, s *keyring.Status) error {
	rows := make([][]string, len(s.Versions))
	for i, v := range s.Versions {
		current := ""
		if v.Current {
			current = "current"
		}
		rows[i] = []string{strconv.Itoa(v.Version), v.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), strconv.Itoa(v.DataKeys), current}
	}
	if err := a.show(cmd, s, []string{"VERSION", "CREATED", "DATA KEYS", ""}, rows...); err != nil {
		return err
	}
	if !a.json && s.Remaining > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d data keys are wrapped by older versions: run keygate keyring rewrap\n", s.Remaining)
	}
	return nil
}
