package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/declarative"
)

// applyCommand is `keygate apply`: make keygate hold a declarative file.
func (a *adminCLI) applyCommand() *cobra.Command {
	var file string
	var dryRun, prune, watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune] [--watch]",
		Short: "Make keygate hold the services, routes, plans and consumers of a YAML file (docs/declarative.md)",
		Long: `Reads the file (- for stdin), refuses it if anything in it is invalid, prints the
difference with what keygate holds (+ create, ~ update, - delete), then applies it.
Nothing is deleted unless --prune is given; then only entities of the kinds the file
has a section for. --watch applies the file again whenever it changes.`,
		Args: cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			if file == "" {
				return fmt.Errorf("no file: give one with -f (- for stdin)")
			}
			data, err := readConfigFile(cmd, file)
			if err != nil {
				return err
			}
			if err := applyFile(cmd.Context(), cmd.OutOrStdout(), c, file, data, prune, dryRun); err != nil || !watch {
				return err
			}
			return watchFile(cmd, c, file, data, interval, prune)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the configuration file (YAML), - for stdin")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would change")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete what the file no longer has (only kinds the file has a section for)")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep running and apply the file again whenever it changes")
	cmd.Flags().DurationVar(&interval, "watch-interval", 2*time.Second, "how often --watch looks at the file")
	cmd.MarkFlagsMutuallyExclusive("watch", "dry-run")
	return cmd
}

// exportCommand is `keygate export`: the running configuration as a file
// that apply takes.
func (a *adminCLI) exportCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export [-o FILE]",
		Short: "Write keygate's services, routes, plans and consumers as a file for apply (no ids, no secrets)",
		Args:  cobra.NoArgs,
		RunE: a.run(func(cmd *cobra.Command, c *client.Client, _ []string) error {
			state, err := declarative.Load(cmd.Context(), c)
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := state.Export(&b); err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(b.Bytes())
				return err
			}
			return os.WriteFile(out, b.Bytes(), 0o644)
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

func readConfigFile(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
	}
	return os.ReadFile(file)
}

// applyFile parses, plans, prints and (unless dryRun) applies one version
// of a file.
func applyFile(ctx context.Context, w io.Writer, c *client.Client, file string, data []byte, prune, dryRun bool) error {
	name := file
	if name == "-" {
		name = "stdin"
	}
	doc, err := declarative.Parse(name, data)
	if err != nil {
		return err
	}
	state, err := declarative.Load(ctx, c)
	if err != nil {
		return err
	}
	plan, err := declarative.Diff(doc, state, prune)
	if err != nil {
		return err
	}
	if err := plan.Print(w); err != nil || dryRun || plan.Empty() {
		return err
	}
	done, err := plan.Apply(ctx, c)
	if err != nil {
		return fmt.Errorf("applied %d of %d changes, then: %w", done, len(plan.Changes), err)
	}
	fmt.Fprintf(w, "Applied %d %s.\n", done, plural(done, "change", "changes"))
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// watchFile applies the file again whenever its content changes, until the
// command is interrupted. A version that fails is reported and the next
// change is waited for: keygate keeps what it had.
func watchFile(cmd *cobra.Command, c *client.Client, file string, data []byte, interval time.Duration, prune bool) error {
	if file == "-" {
		return fmt.Errorf("--watch needs a file, not stdin")
	}
	last := sha256.Sum256(data)
	fmt.Fprintf(cmd.ErrOrStderr(), "Watching %s (every %s).\n", file, interval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-cmd.Context().Done():
			return nil
		case <-t.C:
		}
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "error: %v\n", err)
			continue
		}
		if sum := sha256.Sum256(data); sum != last {
			last = sum
			fmt.Fprintf(cmd.OutOrStdout(), "%s changed at %s:\n", file, time.Now().UTC().Format(time.RFC3339))
			if err := applyFile(cmd.Context(), cmd.OutOrStdout(), c, file, data, prune, false); err != nil {
				printAdminError(cmd.ErrOrStderr(), err)
			}
		}
	}
}
