package main

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var webhookHeader = []string{"ID", "CONSUMER", "URL", "EVENTS", "ENABLED", "CREATED"}

func webhookRow(w *keygate.Webhook) []string {
	return []string{w.ID, cmp.Or(w.ConsumerID, "global"), w.URL, joinOrDash(w.Events), strconv.FormatBool(w.Enabled),
		w.CreatedAt.Format("2006-01-02 15:04:05Z07:00")}
}

var deliveryHeader = []string{"ID", "EVENT", "STATUS", "ATTEMPTS", "HTTP", "NEXT", "ERROR"}

func deliveryRow(d *keygate.WebhookDelivery) []string {
	status := "-"
	if d.LastStatus != 0 {
		status = strconv.Itoa(d.LastStatus)
	}
	return []string{d.ID, d.EventType, string(d.Status), strconv.Itoa(d.Attempts), status, timeOrDash(d.NextAttemptAt), cmp.Or(d.LastError, "-")}
}

func (a *adminCLI) webhooksCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Aliases: []string{"webhook"}, Short: "Subscribe URLs to keygate's events, and see how deliveries went",
		Long: `A webhook receives keygate's events (` + strings.Join(keygate.EventTypes, ", ") + `)
as signed POST requests: a global one every consumer's, a consumer's webhook
only that consumer's. The signing secret is shown once, at creation; check
each delivery's Keygate-Signature header with it (see package
github.com/keygate/keygate/webhook, Verify).`}

	var req keygate.WebhookRequest
	var consumer string
	var disabled bool
	create := &cobra.Command{
		Use:   "create --url URL --event TYPE... [--consumer CONSUMER]",
		Short: "Create a webhook; its signing secret is shown once",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if disabled {
				off := false
				req.Enabled = &off
			}
			w, err := c.CreateWebhook(cmd.Context(), consumer, req)
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, w, nil)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Webhook %s; its signing secret:\n\n    %s\n\n", w.ID, w.Secret)
			fmt.Fprintf(out, "Copy it now: it is stored sealed and will not be shown again.\n\n")
			return a.show(cmd, w, webhookHeader, webhookRow(&w.Webhook))
		}),
	}
	create.Flags().StringVar(&req.URL, "url", "", "where events are POSTed (http or https)")
	create.Flags().StringSliceVar(&req.Events, "event", nil, "event type to send (repeatable, or comma-separated)")
	create.Flags().StringVar(&req.Description, "description", "", "what the webhook is for")
	create.Flags().StringVar(&consumer, "consumer", "", "only this consumer's events (id or username); default: every consumer's")
	create.Flags().BoolVar(&disabled, "disabled", false, "create it disabled (test pings are still sent)")

	var page keygate.Page
	var listConsumer string
	list := &cobra.Command{
		Use:   "list [--consumer CONSUMER]",
		Short: "List webhooks, all or those of one consumer (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			items, next, err := c.Webhooks(cmd.Context(), listConsumer, page)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, webhookHeader, webhookRow)
		}),
	}
	pageFlags(list, &page)
	list.Flags().StringVar(&listConsumer, "consumer", "", "only the webhooks of this consumer (id or username)")

	get := &cobra.Command{
		Use:   "get WEBHOOK-ID",
		Short: "Show a webhook (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			w, err := c.Webhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, w, webhookHeader, webhookRow(w))
		}),
	}

	var patch struct {
		url, description string
		events           []string
		enabled          bool
	}
	update := &cobra.Command{
		Use:   "update WEBHOOK-ID [--url URL] [--event TYPE...] [--enabled=true|false] [--description TEXT]",
		Short: "Change a webhook's URL, events, description, or enable or disable it",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			var p keygate.WebhookPatch
			f := cmd.Flags()
			if f.Changed("url") {
				p.URL = &patch.url
			}
			if f.Changed("event") {
				events := nonNil(patch.events)
				p.Events = &events
			}
			if f.Changed("enabled") {
				p.Enabled = &patch.enabled
			}
			if f.Changed("description") {
				p.Description = &patch.description
			}
			w, err := c.UpdateWebhook(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			return a.show(cmd, w, webhookHeader, webhookRow(w))
		}),
	}
	update.Flags().StringVar(&patch.url, "url", "", "where events are POSTed")
	update.Flags().StringSliceVar(&patch.events, "event", nil, "the event types to send, replacing the current ones (repeatable)")
	update.Flags().BoolVar(&patch.enabled, "enabled", true, "enable (true) or disable (false) the webhook")
	update.Flags().StringVar(&patch.description, "description", "", "what the webhook is for")

	del := &cobra.Command{
		Use:   "delete WEBHOOK-ID",
		Short: "Delete a webhook, its delivery log and its secret",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			if err := c.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.deleted(cmd, "webhook", args[0])
			return nil
		}),
	}

	var dpage keygate.Page
	var status string
	deliveries := &cobra.Command{
		Use:   "deliveries WEBHOOK-ID [--status pending|delivered|failed]",
		Short: "List a webhook's deliveries, newest first, with the outcome of each one's last attempt",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			items, next, err := c.WebhookDeliveries(cmd.Context(), args[0], keygate.DeliveryStatus(status), dpage)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, next, deliveryHeader, deliveryRow)
		}),
	}
	pageFlags(deliveries, &dpage)
	deliveries.Flags().StringVar(&status, "status", "", "only deliveries in this state: pending, delivered or failed")

	test := &cobra.Command{
		Use:   "test WEBHOOK-ID",
		Short: "Send the webhook a webhook.test ping (even when disabled); see how it went with deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			d, err := c.TestWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.show(cmd, d, deliveryHeader, deliveryRow(d))
		}),
	}
	cmd.AddCommand(create, list, get, update, del, deliveries, test)
	return cmd
}
