package adminapitest

import (
	"testing"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
)

// The fixtures create an entity through an admin API client with the
// settings tests usually want, edited first by edit if not nil, and fail
// the test on an error. The end-to-end harnesses are built on them.

// CreateService creates a service at url.
func CreateService(tb testing.TB, c *client.Client, name, url string, edit func(*keygate.Service)) *keygate.Service {
	tb.Helper()
	s := keygate.NewService()
	s.Name, s.URL = name, url
	if edit != nil {
		edit(s)
	}
	return must(tb, func() (*keygate.Service, error) { return c.CreateService(tb.Context(), s) })
}

// CreateRoute creates a route of service at the path /name.
func CreateRoute(tb testing.TB, c *client.Client, name, service string, edit func(*keygate.Route)) *keygate.Route {
	tb.Helper()
	r := keygate.NewRoute()
	r.Name, r.Service, r.Paths = name, keygate.Ref{Name: service}, []string{"/" + name}
	if edit != nil {
		edit(r)
	}
	return must(tb, func() (*keygate.Route, error) { return c.CreateRoute(tb.Context(), r) })
}

// CreateConsumer creates a consumer in groups, with the custom id crm-username.
func CreateConsumer(tb testing.TB, c *client.Client, username string, groups ...string) *keygate.Consumer {
	tb.Helper()
	co := keygate.NewConsumer()
	co.Username, co.CustomID, co.Groups = username, "crm-"+username, groups
	return must(tb, func() (*keygate.Consumer, error) { return c.CreateConsumer(tb.Context(), co) })
}

// CreateKey issues a key to consumer.
func CreateKey(tb testing.TB, c *client.Client, consumer string, req keygate.KeyRequest) *keygate.IssuedKey {
	tb.Helper()
	return must(tb, func() (*keygate.IssuedKey, error) { return c.CreateKey(tb.Context(), consumer, req) })
}

func must[T any](tb testing.TB, create func() (T, error)) T {
	tb.Helper()
	v, err := create()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
