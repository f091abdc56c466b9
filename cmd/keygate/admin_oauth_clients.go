package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var oauthClientHeader = []string{"ID", "CLIENT-ID", "CONSUMER", "NAME", "SCOPES", "AUTH-METHODS", "STATUS", "OLD-SECRET-UNTIL", "CREATED"}

func oauthClientRow(c *keygate.OAuthClient) []string {
	return []string{c.ID, c.ClientID, c.Consumer.String(), c.Name, strings.Join(c.Scopes, ","), strings.Join(c.AuthMethods, ","),
		string(c.Status), timeOrDash(c.PreviousSecretExpiresAt), c.CreatedAt.Format("2006-01-02 15:04:05Z07:00")}
}

func (a *adminCLI) oauthClientsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "oauth-clients", Aliases: []string{"oauth"}, Short: "Register, list, rotate, revoke and delete OAuth 2.0 clients"}

	// showIssued prints a new secret once, then the client.
	showIssued := func(cmd *cobra.Command, issued *keygate.IssuedOAuthClient, headline string) error {
		if a.json {
			return a.show(cmd, issued, nil)
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, headline+"; its client secret:\n\n    %s\n\n", issued.ClientID, issued.ClientSecret)
		fmt.Fprintf(out, "Copy it now: only a hash of it is stored, so it will not be shown again.\n\n")
		return a.show(cmd, issued, oauthClientHeader, oauthClientRow(&issued.OAuthClient))
	}

	var req keygate.OAuthClientRequest
	var lifetime time.Duration
	var jwks string
	create := &cobra.Command{
		Use:   "create CONSUMER --name NAME [--scope S]... [--token-lifetime 1h] [--auth-method M]... [--jwks JSON | --jwks-uri URL]",
		Short: "Register an OAuth client; its secret is shown once",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if cmd.Flags().Changed("token-lifetime") {
				seconds := int(lifetime / time.Second)
				req.TokenLifetime = &seconds
			}
			if jwks != "" {
				req.JWKS = []byte(jwks)
			}
			issued, err := c.CreateOAuthClient(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return showIssued(cmd, issued, "OAuth client %s registered")
		}),
	}
	create.Flags().StringVar(&req.Name, "name", "", "the client's name (unique among the consumer's clients)")
	create.Flags().StringSliceVar(&req.Scopes, "scope", nil, "a scope the client may ask for (repeatable)")
	create.Flags().DurationVar(&lifetime, "token-lifetime", time.Duration(keygate.DefaultTokenLifetime)*time.Second, "lifetime of its access tokens")
	create.Flags().StringSliceVar(&req.AuthMethods, "auth-method", nil, "client_secret_basic (default), client_secret_post or private_key_jwt (repeatable)")
	create.Flags().StringVar(&jwks, "jwks", "", "for private_key_jwt: the client's public JWK Set, as JSON")
	create.Flags().StringVar(&req.JWKSURL, "jwks-uri", "", "for private_key_jwt: the https URL of the client's public JWK Set")

	var page keygate.Page
	var consumer string
	list := &cobra.Command{
		Use:   "list [--consumer CONSUMER]",
		Short: "List OAuth clients, all or those of one consumer (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.OAuthClients(cmd.Context(), consumer, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, oauthClientHeader, oauthClientRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&consumer, "consumer", "", "only the clients of this consumer (id or username)")

	var overlap time.Duration
	rotate := &cobra.Command{
		Use:   "rotate-secret CLIENT [--overlap 24h]",
		Short: "Issue a new client secret (shown once); the current one works until the overlap ends",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			var seconds *int
			if cmd.Flags().Changed("overlap") {
				s := int(overlap / time.Second)
				seconds = &s
			}
			issued, err := c.RotateOAuthClientSecret(cmd.Context(), args[0], seconds)
			if err != nil {
				return err
			}
			return showIssued(cmd, issued, "OAuth client %s has a new secret")
		}),
	}
	rotate.Flags().DurationVar(&overlap, "overlap", keygate.DefaultSecretOverlap, "how long the current secret keeps working (0: it stops at once)")

	one := func(use, short string, do func(cmd *cobra.Command, c *client.Client, id string) (*keygate.OAuthClient, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " CLIENT", Short: short, Args: cobra.ExactArgs(1),
			RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
				oc, err := do(cmd, c, args[0])
				if err != nil || oc == nil {
					return err
				}
				return a.show(cmd, oc, oauthClientHeader, oauthClientRow(oc))
			}),
		}
	}
	get := one("get", "Show an OAuth client by id or client_id (never its secret)", func(cmd *cobra.Command, c *client.Client, id string) (*keygate.OAuthClient, error) {
		return c.OAuthClient(cmd.Context(), id)
	})
	revoke := one("revoke", "Revoke an OAuth client at once, every secret of it included", func(cmd *cobra.Command, c *client.Client, id string) (*keygate.OAuthClient, error) {
		return c.RevokeOAuthClient(cmd.Context(), id)
	})
	del := one("delete", "Delete an OAuth client", func(cmd *cobra.Command, c *client.Client, id string) (*keygate.OAuthClient, error) {
		if err := c.DeleteOAuthClient(cmd.Context(), id); err != nil {
			return nil, err
		}
		a.deleted(cmd, "oauth client", id)
		return nil, nil
	})
	cmd.AddCommand(create, list, get, rotate, revoke, del)
	return cmd
}
