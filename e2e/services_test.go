package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keygate/keygate"
)

// keygate services ...

func TestCLIServices(t *testing.T) {
	t.Parallel()
	adminEnv(t)
	out := admin(t, "services", "create", "--name", "orders", "--url", "http://orders.internal", "--tag", "a", "--tag", "b")
	wantTable(t, out, serviceHeader, []string{"orders", "http://orders.internal", "a,b"})

	admin(t, "services", "create", "--name", "billing", "--url", "http://billing.internal", "--read-timeout", "5000")
	wantTable(t, admin(t, "services", "list"), serviceHeader, []string{"orders"}, []string{"billing"})

	page := adminJSON[keygate.List[*keygate.Service]](t, "services", "list", "--size", "1")
	if len(page.Data) != 1 || page.Offset == "" {
		t.Fatalf("first page %+v", page)
	}
	_, stderr, err := runAdmin(t, "", "services", "list", "--size", "1")
	if err != nil || !strings.Contains(stderr, "--offset "+page.Offset) {
		t.Errorf("no next-page hint: %v %q", err, stderr)
	}
	rest := adminJSON[keygate.List[*keygate.Service]](t, "services", "list", "--size", "1", "--offset", page.Offset)
	if len(rest.Data) != 1 || rest.Data[0].ID == page.Data[0].ID || rest.Offset != "" {
		t.Errorf("second page %+v", rest)
	}

	s := adminJSON[keygate.Service](t, "services", "update", "billing", "--url", "https://billing.internal")
	if s.URL != "https://billing.internal" || s.ReadTimeout != 5000 || s.ConnectTimeout != keygate.DefaultTimeout {
		t.Errorf("update changed more than asked: %+v", s)
	}
	if got := adminJSON[keygate.Service](t, "services", "get", s.ID); got.Name != "billing" {
		t.Errorf("get by id: %+v", got)
	}

	if out := admin(t, "services", "delete", "billing"); out != "Deleted service billing.\n" {
		t.Errorf("delete printed %q", out)
	}
	_, stderr, err = runAdmin(t, "", "services", "get", "billing")
	if !reported(err) || !regexp.MustCompile(`^error: .*billing.* \(NOT_FOUND, request id \S+\)\n$`).MatchString(stderr) {
		t.Errorf("get deleted: %v %q", err, stderr)
	}
}
