package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/adminapi/adminapitest"
	"github.com/keygate/keygate/client"
)

func TestAPIError(t *testing.T) {
	e := adminapitest.New(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func(c *client.Client) error
		status int
		code   string
		msg    string
	}{
		{"bad token", func(*client.Client) error {
			_, _, err := client.New(e.URL(), "wrong").Services(ctx, keygate.Page{})
			return err
		}, 401, keygate.EUNAUTHORIZED, "invalid admin token"},
		{"not found", func(c *client.Client) error {
			_, err := c.Consumer(ctx, "nobody")
			return err
		}, 404, keygate.ENOTFOUND, "nobody"},
		{"invalid", func(c *client.Client) error {
			_, err := c.CreateService(ctx, &keygate.Service{Name: "x", URL: "http://x"}) // zero timeouts
			return err
		}, 400, keygate.EINVALID, "connect_timeout"},
		{"page size", func(c *client.Client) error {
			_, _, err := c.Keys(ctx, keygate.Page{Limit: 5000})
			return err
		}, 400, keygate.EINVALID, "size"},
		{"ref is escaped, not a path", func(c *client.Client) error {
			_, err := c.Service(ctx, "x/routes")
			return err
		}, 404, keygate.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(e.Client)
			ae, ok := errors.AsType[*client.Error](err)
			if !ok {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if ae.Status != tt.status || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) || ae.RequestID == "" {
				t.Errorf("got %+v", ae)
			}
			for _, want := range []string{ae.Message, ae.Code, ae.RequestID} {
				if !strings.Contains(ae.Error(), want) {
					t.Errorf("Error() = %q lacks %q", ae.Error(), want)
				}
			}
		})
	}
}

func TestNotTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, "t").Service(context.Background(), "x")
	ae, ok := errors.AsType[*client.Error](err)
	if !ok || ae.Status != 502 || ae.Code != "" || strings.Contains(ae.Message, "html") {
		t.Errorf("err = %#v", err)
	}

	srv.Close()
	_, err = client.New(srv.URL, "t").Service(context.Background(), "x")
	if _, ok := errors.AsType[*client.Error](err); ok || err == nil {
		t.Errorf("a transport error came back as %#v", err)
	}
}

func TestCreateLeavesServerFieldsOut(t *testing.T) {
	e := adminapitest.New(t)
	s := keygate.NewService()
	s.ID, s.Name, s.URL, s.CreatedAt = "mine", "orders", "http://orders", time.Unix(0, 0)
	got, err := e.Client.CreateService(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "mine" || !keygate.LooksLikeID(got.ID) || !got.CreatedAt.Equal(adminapitest.Start) {
		t.Errorf("created %+v", got)
	}
}

func TestTrailingSlashInBaseURL(t *testing.T) {
	e := adminapitest.New(t)
	if err := client.New(e.URL()+"/", e.Token).Health(context.Background()); err != nil {
		t.Error(err)
	}
}
