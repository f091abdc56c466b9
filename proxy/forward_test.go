package proxy

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A body the caller framed badly is the caller's failure: the body reader
// remembers it, so the answer is 400 (408 for a caller too slow), not the
// 502 the transport's error alone would give.
func TestCallerBodyFailure(t *testing.T) {
	p := New(nil, nil, Config{Logger: slog.New(slog.DiscardHandler)})
	for _, tc := range []struct {
		name, request string
		timeout       time.Duration
		status        int // 0: the body reads whole
	}{
		{"well formed", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", time.Second, 0},
		{"a bad chunk size", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n", time.Second, 400},
		{"a chunk size that overflows", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhi\r\n0\r\n\r\n", time.Second, 400},
		{"LF-only chunk lines", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\n0\n\n", time.Second, 400},
		{"a body that stops coming", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n", 50 * time.Millisecond, 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				status int
				close  bool
			}
			got := serveOne(t, tc.request, func(ctx *fasthttp.RequestCtx) result {
				limitBodyWaits(ctx, tc.timeout)
				body := newRequestBody(ctx)
				io.ReadAll(body)
				err := body.callerError()
				body.finish()
				if err == nil {
					return result{}
				}
				p.callerBodyFailed(&exchange{ctx: ctx, id: "id"}, err)
				return result{ctx.Response.StatusCode(), ctx.Response.ConnectionClose()}
			})
			if got.status != tc.status || got.close != (tc.status != 0) {
				t.Errorf("got %+v, want status %d", got, tc.status)
			}
		})
	}
}
