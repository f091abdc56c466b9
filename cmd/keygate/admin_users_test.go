package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keygate/keygate/console"
)

func runCLIStdin(tb testing.TB, stdin string, args ...string) (string, error) {
	tb.Helper()
	cmd := newRootCommand()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// keygate users create appends an argon2id line that serve accepts, never
// the password, and refuses what it should, naming why.
func TestUsersCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	out, err := runCLIStdin(t, "correct horse battery\n", "users", "create", "--file", file, "--name", "ada@example.com", "--role", "admin")
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("users file mode %v, want 0600", fi.Mode().Perm())
	}
	if strings.Contains(string(data), "correct horse") || !strings.HasPrefix(string(data), "ada@example.com admin $argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("users file: %q", data)
	}
	accounts, err := console.ParseAccounts(strings.NewReader(string(data)))
	if err != nil || len(accounts) != 1 {
		t.Fatalf("ParseAccounts: %v %v", accounts, err)
	}

	for _, tt := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"short password", "short\n", []string{"--name", "bob", "--role", "admin"}, "password: at least 12"},
		{"bad role", "long enough password\n", []string{"--name", "bob", "--role", "root"}, "--role"},
		{"bad name", "long enough password\n", []string{"--name", "bob smith", "--role", "admin"}, "--name"},
		{"taken", "long enough password\n", []string{"--name", "ADA@example.com", "--role", "auditor"}, "already there"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLIStdin(t, tt.stdin, append([]string{"users", "create", "--file", file}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v (%s), want %q", err, out, tt.want)
			}
		})
	}
	if after, _ := os.ReadFile(file); string(after) != string(data) {
		t.Errorf("a refused create changed the file")
	}
}

// Console settings are checked at start, naming the flag.
func TestConsoleFlagsRefused(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "users")
	os.WriteFile(bad, []byte("ada admin not-a-hash\n"), 0o600)
	tests := []struct {
		name string
		c    consoleConfig
		want string
	}{
		{"users file missing", consoleConfig{UsersFile: filepath.Join(t.TempDir(), "none")}, "--console-users-file"},
		{"users file bad", consoleConfig{UsersFile: bad}, "--console-users-file " + bad + ": line 1"},
		{"oidc without issuer", consoleConfig{OIDCClientID: "x"}, "--console-oidc-issuer: required"},
		{"no client id", consoleConfig{OIDCIssuer: "https://idp.example", OIDCRedirectURL: "https://k.example/ui/oidc/callback", OIDCRoles: []string{"a=admin"}}, "--console-oidc-client-id"},
		{"bad redirect", consoleConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "c", OIDCRedirectURL: "https://k.example/callback", OIDCRoles: []string{"a=admin"}}, "--console-oidc-redirect-url"},
		{"no roles", consoleConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "c", OIDCRedirectURL: "https://k.example/ui/oidc/callback"}, "--console-oidc-roles"},
		{"bad role", consoleConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "c", OIDCRedirectURL: "https://k.example/ui/oidc/callback", OIDCRoles: []string{"a=root"}}, `--console-oidc-roles: a: role: "root"`},
		{"bad mapping", consoleConfig{OIDCIssuer: "https://idp.example", OIDCClientID: "c", OIDCRedirectURL: "https://k.example/ui/oidc/callback", OIDCRoles: []string{"admin"}}, `--console-oidc-roles: "admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Main{Config: Config{DataDir: t.TempDir(), RootKey: testRootKey, ProxyListen: "127.0.0.1:0",
				AdminListen: "127.0.0.1:0", KeyPrefix: "kg_test", Console: tt.c}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			err := m.Run(context.Background())
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
}
