package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var hmacHeader = []string{"ID", "CONSUMER", "USERNAME", "STATUS", "WEAK", "EXPIRES", "CREATED"}

func hmacRow(c *keygate.HMACCredential) []string {
	weak := "no"
	if c.Weak {
		weak = "yes"
	}
	return []string{c.ID, c.Consumer.String(), c.Username, string(c.Status), weak, timeOrDash(c.ExpiresAt), c.CreatedAt.Format("2006-01-02 15:04:05Z07:00")}
}

func (a *adminCLI) hmacCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "hmac-credentials", Aliases: []string{"hmac"}, Short: "Issue, list, revoke and delete HMAC signing credentials"}

	var req keygate.HMACCredentialRequest
	var secretStdin bool
	var expiry expiryFlags
	create := &cobra.Command{
		Use:   "create CONSUMER --username NAME [--secret-stdin [--import]] [--ttl 720h | --expires-at RFC3339]",
		Short: "Issue an HMAC credential; the secret is shown once",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			// The existing secret comes from standard input only, never from
			// the command line, where ps and shell histories would keep it.
			if req.Import && !secretStdin {
				return fmt.Errorf("--import: needs --secret-stdin, to read the existing secret")
			}
			if secretStdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("--secret-stdin: no secret on standard input")
				}
				req.Secret = strings.TrimRight(line, "\r\n")
			}
			var err error
			if req.TTL, req.ExpiresAt, err = expiry.values(cmd); err != nil {
				return err
			}
			cred, err := c.CreateHMACCredential(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, cred, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "HMAC credential %s for consumer %s; its secret:\n\n    %s\n\n", cred.Username, args[0], cred.Secret)
			fmt.Fprintf(out, "Copy it now: it is stored sealed and will not be shown again.\n\n")
			if cred.Weak {
				fmt.Fprintf(out, "It is shorter than %d characters: the credential is marked weak; replace it with a new one when its signers can.\n\n", keygate.MinHMACSecretLen)
			}
			return a.show(cmd, cred, hmacHeader, hmacRow(&cred.HMACCredential))
		}),
	}
	create.Flags().StringVar(&req.Username, "username", "", "the credential's public name (globally unique)")
	create.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the secret from standard input instead of generating one")
	create.Flags().BoolVar(&req.Import, "import", false, "keep an existing secret (e.g. from Kong) even if shorter than "+fmt.Sprint(keygate.MinHMACSecretLen)+" characters; such a credential is marked weak")
	create.Flags().StringSliceVar(&req.Tags, "tag", nil, "tag (repeatable)")
	expiry.add(create)

	var page keygate.Page
	var consumer string
	var weak bool
	list := &cobra.Command{
		Use:   "list [--consumer CONSUMER] [--weak]",
		Short: "List HMAC credentials, all or those of one consumer (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			f := keygate.HMACCredentialFilter{ConsumerID: consumer}
			if cmd.Flags().Changed("weak") {
				f.Weak = &weak
			}
			items, next, err := c.ListHMACCredentials(cmd.Context(), f, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, hmacHeader, hmacRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&consumer, "consumer", "", "only the credentials of this consumer (id or username)")
	list.Flags().BoolVar(&weak, "weak", false, "only the weak credentials (imported with a short secret); --weak=false: only the others")

	one := func(use, short string, do func(cmd *cobra.Command, c *client.Client, consumer, id string) (*keygate.HMACCredential, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " CONSUMER CREDENTIAL-ID", Short: short, Args: cobra.ExactArgs(2),
			RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				cred, err := do(cmd, c, args[0], args[1])
				if err != nil || cred == nil {
					return err
				}
				return a.show(cmd, cred, hmacHeader, hmacRow(cred))
			}),
		}
	}
	get := one("get", "Show an HMAC credential (never its secret)", func(cmd *cobra.Command, c *client.Client, consumer, id string) (*keygate.HMACCredential, error) {
		return c.HMACCredential(cmd.Context(), consumer, id)
	})
	revoke := one("revoke", "Revoke an HMAC credential at once; its record stays for audit", func(cmd *cobra.Command, c *client.Client, consumer, id string) (*keygate.HMACCredential, error) {
		return c.RevokeHMACCredential(cmd.Context(), consumer, id)
	})
	del := one("delete", "Delete an HMAC credential and destroy its secret for good", func(cmd *cobra.Command, c *client.Client, consumer, id string) (*keygate.HMACCredential, error) {
		if err := c.DeleteHMACCredential(cmd.Context(), consumer, id); err != nil {
			return nil, err
		}
		a.deleted(cmd, "hmac credential", id)
		return nil, nil
	})
	cmd.AddCommand(create, list, get, revoke, del)
	return cmd
}
