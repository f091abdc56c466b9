package main

import (
	"encoding/base64"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var payloadSessionHeader = []string{"ID", "CONSUMER", "ROUTE", "MODE", "KEY-TYPE", "EXPIRES", "CREATED"}

func payloadSessionRow(s *keygate.PayloadSession) []string {
	return []string{s.ID, s.Consumer.String(), s.RouteID, s.Mode, s.KeyType,
		s.ExpiresAt.Format("2006-01-02 15:04:05Z07:00"), s.CreatedAt.Format("2006-01-02 15:04:05Z07:00")}
}

func (a *adminCLI) payloadCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "payload", Short: "Payload encryption: routes' static keys and clients' sessions"}

	var key string
	setKey := &cobra.Command{
		Use:   "set-key ROUTE [--key BASE64]",
		Short: "Generate (or set) a route's static key for payload_encryption static; shown once",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			var material []byte
			if key != "" {
				b, err := base64.StdEncoding.DecodeString(key)
				if err != nil {
					return fmt.Errorf("--key: must be standard base64")
				}
				material = b
			}
			issued, err := c.SetPayloadKey(cmd.Context(), args[0], material)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, issued, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Route %s has a new static payload key:\n\n    %s\n\n", issued.Route, issued.Key)
			fmt.Fprintf(out, "Copy it now: it is stored sealed and will not be shown again. The previous key stops working.\n")
			return nil
		}),
	}
	setKey.Flags().StringVar(&key, "key", "", "the key clients hold already (standard base64 of 32 bytes); default: a new random key")

	var page keygate.Page
	var consumer string
	list := &cobra.Command{
		Use:   "sessions [--consumer CONSUMER]",
		Short: "List payload sessions (never their keys)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.PayloadSessions(cmd.Context(), consumer, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, payloadSessionHeader, payloadSessionRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&consumer, "consumer", "", "only the sessions of this consumer (id or username)")

	end := &cobra.Command{
		Use:   "end SESSION",
		Short: "End a payload session on every node (its key is destroyed)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.EndPayloadSession(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "payload session", args[0])
			return nil
		}),
	}
	cmd.AddCommand(setKey, list, end)
	return cmd
}
