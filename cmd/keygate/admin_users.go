package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keygate/keygate/console"
)

// newUsersCommand manages the admin console's local accounts file. It
// works on the file, not over the admin API: the file is read by every
// admin node at start, like its other settings.
func newUsersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage the admin console's local accounts (--console-users-file)"}
	var file, name, role string
	create := &cobra.Command{
		Use:   "create",
		Short: "Add a local account, reading its password from stdin",
		Long: `Add a local account to the users file (created with mode 0600 when
missing). The password is the first line of stdin, so it never appears in
the process list or the shell history:

  read -rs PW && printf '%s\n' "$PW" | keygate users create --file users.txt --name ada@example.com --role admin

Only an argon2id hash of it is written. keygate serve reads the file at
start (--console-users-file): restart it to apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := console.ValidAccountName(name); err != nil {
				return errors.New("--name: 1 to 200 characters, no spaces or control characters")
			}
			if err := console.ValidRole(role); err != nil {
				return fmt.Errorf("--role: %q is not one of admin, operator, auditor", role)
			}
			password, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1025)).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
			password = strings.TrimRight(password, "\r\n")
			switch {
			case len(password) < 12:
				return errors.New("password: at least 12 characters, on the first line of stdin")
			case len(password) > 1024:
				return errors.New("password: at most 1024 characters")
			}
			if data, err := os.ReadFile(file); err == nil {
				accounts, err := console.ParseAccounts(strings.NewReader(string(data)))
				if err != nil {
					return fmt.Errorf("%s: %w", file, err)
				}
				for _, a := range accounts {
					if strings.EqualFold(a.Name, name) {
						return fmt.Errorf("%s: %s is already there; remove its line to replace it", file, a.Name)
					}
				}
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			hash, err := console.HashPassword(password, console.DefaultArgon2)
			if err != nil {
				return err
			}
			if err := appendLine(file, console.AccountLine(console.Account{Name: name, Role: role, Hash: hash})); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added %s (%s) to %s; restart keygate serve to apply.\n", name, role, file)
			return nil
		},
	}
	create.Flags().StringVar(&file, "file", "", "the users file (the one --console-users-file names)")
	create.Flags().StringVar(&name, "name", "", "the account's name, usually an email address; the audit trail names it user:<name>")
	create.Flags().StringVar(&role, "role", "", "admin, operator (all but keyring and root actions) or auditor (read-only)")
	create.MarkFlagRequired("file")
	create.MarkFlagRequired("name")
	create.MarkFlagRequired("role")
	cmd.AddCommand(create, newPortalUsersCommand())
	return cmd
}

// appendLine appends line to a users file, creating it with mode 0600 when
// it is missing: it holds password hashes.
func appendLine(file, line string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
