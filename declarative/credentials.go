package declarative

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// ImportCredentials imports the Kong file's credentials into their
// consumers, which must exist (apply the document first), and writes one
// line per credential to w: + imported, = already there. With dryRun it
// only says what it would do. Secrets are never written. A credential that
// fails does not stop the others; the failures are returned together.
func (imp *KongImport) ImportCredentials(ctx context.Context, c *client.Client, w io.Writer, dryRun bool) error {
	state, err := Load(ctx, c)
	if err != nil {
		return err
	}
	// The admin API finds a consumer by id or username; a consumer known
	// by its custom id only is found by id.
	consumerRef := func(name string) string { return cmp.Or(state.id(KindConsumer, name), name) }
	var errs []error
	existing := map[string][]string{} // consumer → HMAC usernames
	for _, h := range imp.HMAC {
		names, ok := existing[h.Consumer]
		if !ok {
			names = hmacUsernames(ctx, c, consumerRef(h.Consumer))
			existing[h.Consumer] = names
		}
		what := fmt.Sprintf("hmac credential %s of consumer %s", h.Username, h.Consumer)
		switch {
		case slices.Contains(names, h.Username):
			fmt.Fprintf(w, "= %s (already there)\n", what)
			continue
		case dryRun:
			fmt.Fprintf(w, "+ %s\n", what)
			continue
		}
		_, err := c.CreateHMACCredential(ctx, consumerRef(h.Consumer),
			keygate.HMACCredentialRequest{Username: h.Username, Secret: h.Secret, Tags: h.Tags, Import: true})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %v", what, h.Path, err)) // %v: the message, with its context, is what is printed
			continue
		}
		fmt.Fprintf(w, "+ %s\n", what)
	}
	for i, k := range imp.Keys {
		// A key is known by where the file has it: it is never printed.
		what := fmt.Sprintf("key %d (%s) of consumer %s", i+1, k.Path, k.Consumer)
		if dryRun {
			fmt.Fprintf(w, "+ %s\n", what)
			continue
		}
		_, err := c.ImportKey(ctx, consumerRef(k.Consumer), keygate.KeyImport{KeyRequest: keygate.KeyRequest{Tags: k.Tags, TTL: k.TTL}, Key: k.Key})
		if e, ok := errors.AsType[*client.Error](err); ok && e.Code == keygate.ECONFLICT {
			fmt.Fprintf(w, "= %s (already there)\n", what)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", what, err))
			continue
		}
		fmt.Fprintf(w, "+ %s\n", what)
	}
	return errors.Join(errs...)
}

// hmacUsernames lists the usernames of a consumer's HMAC credentials; none
// for a consumer that does not exist yet.
func hmacUsernames(ctx context.Context, c *client.Client, consumer string) []string {
	creds, err := listAll(ctx, func(ctx context.Context, p keygate.Page) ([]*keygate.HMACCredential, string, error) {
		return c.HMACCredentials(ctx, consumer, p)
	})
	if err != nil {
		return nil
	}
	var names []string
	for _, h := range creds {
		names = append(names, h.Username)
	}
	return names
}
