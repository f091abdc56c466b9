package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/keygate/keygate"
)

// Request ids are a random per-process prefix and a counter: unique across
// nodes and restarts for practical purposes, and cheap to make.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "-"
}

// setRequestID keeps a well-formed id the caller sent (for tracing across
// systems) and otherwise assigns a new one.
func setRequestID(r *http.Request, callerID string) {
	if keygate.ValidRequestID(callerID) {
		r.Header[headerRequestID] = []string{callerID} // one value, even if several were sent
		return
	}
	r.Header[headerRequestID] = []string{idPrefix + strconv.FormatUint(idCounter.Add(1), 36)}
}

func requestIDOf(r *http.Request) string { return r.Header.Get(headerRequestID) }
