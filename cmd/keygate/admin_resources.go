package main

import (
	"cmp"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var serviceHeader = []string{"ID", "NAME", "URL", "TAGS"}

func serviceRow(s *keygate.Service) []string {
	return []string{s.ID, s.Name, s.URL, joinOrDash(s.Tags)}
}

// serviceFlags binds the flags of services create and update to s.
func serviceFlags(fs *pflag.FlagSet, s *keygate.Service) map[string]string {
	fs.StringVar(&s.Name, "name", "", "unique name")
	fs.StringVar(&s.URL, "url", "", "upstream base URL, such as http://orders.internal:8080/api")
	fs.IntVar(&s.ConnectTimeout, "connect-timeout", s.ConnectTimeout, "connect timeout in milliseconds")
	fs.IntVar(&s.ReadTimeout, "read-timeout", s.ReadTimeout, "read timeout in milliseconds")
	fs.IntVar(&s.WriteTimeout, "write-timeout", s.WriteTimeout, "write timeout in milliseconds")
	fs.StringSliceVar(&s.Tags, "tag", nil, "tag (repeatable)")
	return map[string]string{"name": "name", "url": "url", "connect-timeout": "connect_timeout",
		"read-timeout": "read_timeout", "write-timeout": "write_timeout", "tag": "tags"}
}

func (a *adminCLI) servicesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "services", Aliases: []string{"service"}, Short: "Manage upstream services"}

	svc := keygate.NewService()
	create := &cobra.Command{
		Use:   "create --name NAME --url URL",
		Short: "Create a service",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			svc.Tags = nonNil(svc.Tags)
			s, err := c.CreateService(cmd.Context(), svc)
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}
	serviceFlags(create.Flags(), svc)

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List services",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Services(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, serviceHeader, serviceRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get SERVICE",
		Short: "Show a service (by id or name)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			s, err := c.Service(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}

	var fields map[string]string
	update := &cobra.Command{
		Use:   "update SERVICE [flags]",
		Short: "Change the given fields of a service",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			s, err := c.UpdateService(cmd.Context(), args[0], patchFrom(cmd.Flags(), fields))
			if err != nil {
				return err
			}
			return a.show(cmd, s, serviceHeader, serviceRow(s))
		}),
	}
	fields = serviceFlags(update.Flags(), keygate.NewService())

	del := &cobra.Command{
		Use:   "delete SERVICE",
		Short: "Delete a service that no route uses",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteService(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "service", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}

var consumerHeader = []string{"ID", "USERNAME", "CUSTOM-ID", "GROUPS", "TAGS"}

func consumerRow(c *keygate.Consumer) []string {
	return []string{c.ID, cmp.Or(c.Username, "-"), cmp.Or(c.CustomID, "-"), joinOrDash(c.Groups), joinOrDash(c.Tags)}
}

func consumerFlags(fs *pflag.FlagSet, c *keygate.Consumer) map[string]string {
	fs.StringVar(&c.Username, "username", "", "unique username")
	fs.StringVar(&c.CustomID, "custom-id", "", "unique id in your own systems")
	fs.StringSliceVar(&c.Groups, "group", nil, "ACL group (repeatable)")
	fs.StringSliceVar(&c.Tags, "tag", nil, "tag (repeatable)")
	return map[string]string{"username": "username", "custom-id": "custom_id", "group": "groups", "tag": "tags"}
}

func (a *adminCLI) consumersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "consumers", Aliases: []string{"consumer"}, Short: "Manage consumers (who calls through the gateway)"}

	co := keygate.NewConsumer()
	create := &cobra.Command{
		Use:   "create --username NAME",
		Short: "Create a consumer",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			co.Groups, co.Tags = nonNil(co.Groups), nonNil(co.Tags)
			out, err := c.CreateConsumer(cmd.Context(), co)
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}
	consumerFlags(create.Flags(), co)

	var page keygate.Page
	list := &cobra.Command{
		Use:   "list",
		Short: "List consumers",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Consumers(cmd.Context(), page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, consumerHeader, consumerRow)
		}),
	}
	pageFlags(list, &page)

	get := &cobra.Command{
		Use:   "get CONSUMER",
		Short: "Show a consumer (by id or username)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			out, err := c.Consumer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}

	var fields map[string]string
	update := &cobra.Command{
		Use:   "update CONSUMER [flags]",
		Short: "Change the given fields of a consumer",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			out, err := c.UpdateConsumer(cmd.Context(), args[0], patchFrom(cmd.Flags(), fields))
			if err != nil {
				return err
			}
			return a.show(cmd, out, consumerHeader, consumerRow(out))
		}),
	}
	fields = consumerFlags(update.Flags(), keygate.NewConsumer())

	del := &cobra.Command{
		Use:   "delete CONSUMER",
		Short: "Delete a consumer and all its keys",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteConsumer(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "consumer", args[0])
			return nil
		}),
	}

	cmd.AddCommand(create, list, get, update, del)
	return cmd
}
