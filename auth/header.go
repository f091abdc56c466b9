package auth

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// RemoveHeaders deletes every field line of h whose name drop selects,
// keeping the other lines in the order they came. fasthttp's Del moves the
// last line into the gap, which can swap two lines of one header and so
// change what a list-valued header (X-Forwarded-For, a signed field) says.
// Names reach drop in canonical form.
func RemoveHeaders(h *fasthttp.RequestHeader, drop func(name []byte) bool) {
	found := false
	for name := range h.All() {
		if found = drop(name); found {
			break
		}
	}
	if !found {
		return // the common case: no copying
	}
	var names [][]byte   // every name to delete, once
	var kept [][2][]byte // the lines to add back, in order
	for name, value := range h.All() {
		dropped := drop(name)
		if dedicated(name) { // one value apart from the ordered lines: deleting it moves nothing
			if dropped {
				names = appendName(names, name)
			}
			continue
		}
		names = appendName(names, name)
		if !dropped {
			kept = append(kept, [2][]byte{bytes.Clone(name), bytes.Clone(value)})
		}
	}
	for _, name := range names {
		h.DelBytes(name)
	}
	for _, line := range kept {
		h.AddBytesKV(line[0], line[1])
	}
}

// dedicated reports the headers fasthttp keeps in fields of their own
// rather than in its ordered list of lines.
func dedicated(name []byte) bool {
	switch string(name) {
	case fasthttp.HeaderHost, fasthttp.HeaderContentLength, fasthttp.HeaderContentType,
		fasthttp.HeaderUserAgent, fasthttp.HeaderTrailer, fasthttp.HeaderCookie:
		return true
	}
	return false
}

func appendName(names [][]byte, name []byte) [][]byte {
	for _, n := range names {
		if bytes.Equal(n, name) {
			return names
		}
	}
	return append(names, bytes.Clone(name))
}
