package proxy

import (
	"crypto/rand"
	"encoding/hex"
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

// requestID keeps a well-formed id the caller sent (for tracing across
// systems) and otherwise assigns a new one.
func requestID(callerID []byte) string {
	if len(callerID) > 0 && keygate.ValidRequestID(string(callerID)) {
		return string(callerID)
	}
	var b [64]byte
	return string(strconv.AppendUint(append(b[:0], idPrefix...), idCounter.Add(1), 36))
}
