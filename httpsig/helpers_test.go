package httpsig

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// received parses raw (with \n line ends) as a server receives it: Host
// out of the header map, RequestURI as sent.
func received(tb testing.TB, raw string) *http.Request {
	tb.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	raw = strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		tb.Fatalf("reading request: %v", err)
	}
	return r
}
