// Command keygate is the one binary: the gateway and admin API (serve) and a
// CLI over the admin API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(os.Stderr, "keygate:", err)
		}
		os.Exit(1)
	}
}

// errReported is returned by commands that already printed their error.
var errReported = errors.New("reported")

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "keygate",
		Short:         "API gateway and credential authority",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newRootKeyCommand(), newBackupCommand(), newRestoreCommand(), newMigrateCommand(), newUsersCommand())
	root.AddCommand(adminCommands()...)
	return root
}
