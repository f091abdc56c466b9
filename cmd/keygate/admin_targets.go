package main

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

var targetHeader = []string{"URL", "WEIGHT", "COLOR", "HEALTH"}

func targetRow(t keygate.TargetHealth) []string {
	color := t.Color
	if color == "" {
		color = "-"
	}
	return []string{t.URL, strconv.Itoa(t.Weight), color, t.Health}
}

// targetsCommand manages where a service runs: its targets, and the
// deploy hook pipelines call.
func (a *adminCLI) targetsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "targets", Aliases: []string{"target"}, Short: "Manage a service's targets (load balancing, blue/green deploys)"}

	list := &cobra.Command{
		Use:   "list SERVICE",
		Short: "List a service's targets with their health as the answering node sees it",
		Args:  cobra.ExactArgs(1),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			items, err := c.Targets(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return showList(a, cmd, items, "", targetHeader, targetRow)
		}),
	}

	set := &cobra.Command{
		Use:   "set SERVICE URL[=WEIGHT[:COLOR]]...",
		Short: "Replace a service's targets at once",
		Long: "Replace a service's targets at once: new requests go to the new set, requests in flight finish where they are.\n" +
			"Each target is a URL with an optional weight (0-1000, default 100) and color, e.g.\n" +
			"  keygate targets set orders http://10.0.0.5:8080=90:blue http://10.0.0.6:8080=10:green",
		Args: cobra.MinimumNArgs(2),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			targets := make([]keygate.UpstreamTarget, 0, len(args)-1)
			for _, arg := range args[1:] {
				targets = append(targets, parseTargetArg(arg))
			}
			items, err := c.SetTargets(cmd.Context(), args[0], targets)
			if err != nil {
				return err
			}
			return showList(a, cmd, items, "", targetHeader, targetRow)
		}),
	}

	var color string
	deploy := &cobra.Command{
		Use:   "deploy SERVICE URL [--color COLOR]",
		Short: "Report a deploy: the service now runs at URL (for CI/CD pipelines)",
		Args:  cobra.ExactArgs(2),
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, args []string) error {
			s, err := c.Deploy(cmd.Context(), args[0], keygate.Deploy{URL: args[1], Color: color})
			if err != nil {
				return err
			}
			if a.json {
				return a.show(cmd, s, nil)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "service %s now runs at %s\n", s.Name, s.URL)
			return err
		}),
	}
	deploy.Flags().StringVar(&color, "color", "", "deployment label, such as blue or green")

	cmd.AddCommand(list, set, deploy)
	return cmd
}

// targetArg is URL=WEIGHT:COLOR; weight and color may be left out.
var targetArg = regexp.MustCompile(`^(.+)=(\d{1,4})(?::([A-Za-z0-9_.~-]+))?$`)

// parseTargetArg reads a target from the command line; the admin API
// checks what it read.
func parseTargetArg(arg string) keygate.UpstreamTarget {
	m := targetArg.FindStringSubmatch(arg)
	if m == nil {
		return keygate.UpstreamTarget{URL: arg, Weight: keygate.DefaultWeight}
	}
	w, _ := strconv.Atoi(m[2])
	return keygate.UpstreamTarget{URL: m[1], Weight: w, Color: m[3]}
}
