package auth

import (
	"bufio"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// received parses a request as the proxy listener receives it.
func received(t testing.TB, raw string) *fasthttp.Request {
	t.Helper()
	var r fasthttp.Request
	if err := r.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return &r
}

func lines(h *fasthttp.RequestHeader) []string {
	var out []string
	for name, value := range h.All() {
		out = append(out, string(name)+": "+string(value))
	}
	return out
}

func TestRemoveHeadersKeepsTheOthersInOrder(t *testing.T) {
	r := received(t, "GET / HTTP/1.1\r\nHost: api\r\napikey: secret\r\nX-Trace: a\r\nContent-Type: text/plain\r\n"+
		"Cookie: s=1\r\nX-Trace: b\r\nApikey: again\r\nAccept: */*\r\nX-Trace: c\r\n\r\n")
	RemoveHeaders(&r.Header, func(name []byte) bool { return string(name) == "Apikey" })
	want := []string{"Host: api", "Content-Type: text/plain", "Cookie: s=1", "X-Trace: a", "X-Trace: b", "Accept: */*", "X-Trace: c"}
	if got := lines(&r.Header); !slices.Equal(got, want) {
		t.Errorf("after removing Apikey:\n%q\nwant\n%q", got, want)
	}
}

func TestRemoveHeadersRemovesDedicatedOnes(t *testing.T) {
	r := received(t, "GET / HTTP/1.1\r\nHost: api\r\nCookie: s=1\r\nUser-Agent: ua\r\nX-A: 1\r\n\r\n")
	RemoveHeaders(&r.Header, func(name []byte) bool { return string(name) == "Cookie" || string(name) == "User-Agent" })
	if got, want := lines(&r.Header), []string{"Host: api", "X-A: 1"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRemoveHeadersWithNothingToRemoveCopiesNothing(t *testing.T) {
	r := received(t, "GET / HTTP/1.1\r\nHost: api\r\nX-A: 1\r\nX-B: 2\r\n\r\n")
	drop := func(name []byte) bool { return string(name) == "Apikey" }
	if allocs := testing.AllocsPerRun(100, func() { RemoveHeaders(&r.Header, drop) }); allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}
