package keyauth

import "bytes"

// The query parameters a key may come in, read as url.ParseQuery reads
// them, but for one name and without its map: a request reaches this before
// it is authenticated, so it must be linear in the query with a small
// constant (issue 22), and ParseQuery builds a map of every parameter.

// maxQueryParams is url.ParseQuery's limit: over it, it reads none.
const maxQueryParams = 10000

// queryValue returns the first value of name in the raw query q and how
// many values it has (at most 2: more than one is refused anyway), as
// url.ParseQuery would give them. Parameters it skips are skipped here
// too: those with a ";", or a bad escape in their name or value.
func queryValue(q []byte, name string) (value string, n int) {
	if bytes.Count(q, []byte("&"))+1 > maxQueryParams {
		return "", 0
	}
	// One loop over the bytes rather than a Cut a parameter: a query of
	// thousands of "&" must cost no call each.
	start := 0
	for i := 0; i <= len(q) && n < 2; i++ {
		if i < len(q) && q[i] != '&' {
			continue
		}
		param := q[start:i]
		start = i + 1
		// Most parameters differ at their first byte: tell them here.
		if len(param) == 0 || len(name) > 0 && param[0] != name[0] && param[0] != '%' && param[0] != '+' {
			continue
		}
		eq, ok := nameIs(param, name, false)
		if !ok || bytes.IndexByte(param, ';') >= 0 {
			continue
		}
		var v []byte
		if eq < len(param) {
			v = param[eq+1:]
		}
		decoded, ok := queryUnescape(v)
		if !ok {
			continue
		}
		if n++; n == 1 {
			value = decoded
		}
	}
	return value, n
}

// withoutQueryParam returns the raw query q without the parameters whose
// name, unescaped, is name in any case (hide_credentials: a key under any
// spelling goes), the others as the caller sent them and in their order.
func withoutQueryParam(q []byte, name string) []byte {
	out := make([]byte, 0, len(q))
	run := -1 // where the run of kept parameters being read starts; they are copied at once
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' {
			continue
		}
		param := q[start:i]
		// Most parameters differ at their first byte: tell them here.
		if len(param) > 0 && (len(name) == 0 || lower(param[0]) == lower(name[0]) || param[0] == '%' || param[0] == '+') {
			if _, ok := nameIs(param, name, true); ok {
				out = appendRun(out, q, run, start-1)
				run = -1
				start = i + 1
				continue
			}
		}
		if run < 0 {
			run = start
		}
		start = i + 1
	}
	return appendRun(out, q, run, len(q))
}

// appendRun appends q[run:end], a run of whole parameters, to the query out.
func appendRun(out, q []byte, run, end int) []byte {
	if run < 0 || run >= end {
		return out
	}
	if len(out) > 0 {
		out = append(out, '&')
	}
	return append(out, q[run:end]...)
}

// nameIs reports whether the name of param (all before its first "="),
// unescaped as url.QueryUnescape does ("%xx", "+" for a space), is name,
// and where that "=" is (len(param) without one); fold compares ASCII
// letters in any case. A bad escape is no match: url.ParseQuery skips
// the parameter.
func nameIs(param []byte, name string, fold bool) (eq int, ok bool) {
	i := 0
	for j := 0; j < len(param); j++ {
		c := param[j]
		switch c {
		case '=':
			return j, i == len(name)
		case '%':
			if j+2 >= len(param) || !isHex(param[j+1]) || !isHex(param[j+2]) {
				return 0, false
			}
			c = unhex(param[j+1])<<4 | unhex(param[j+2])
			j += 2
		case '+':
			c = ' '
		}
		if i == len(name) || !(c == name[i] || fold && lower(c) == lower(name[i])) {
			return 0, false
		}
		i++
	}
	return len(param), i == len(name)
}

// queryUnescape is url.QueryUnescape in one pass over s.
func queryUnescape(s []byte) (string, bool) {
	if bytes.IndexByte(s, '%') < 0 && bytes.IndexByte(s, '+') < 0 {
		return string(s), true
	}
	out := make([]byte, 0, len(s))
	for j := 0; j < len(s); j++ {
		c := s[j]
		switch c {
		case '%':
			if j+2 >= len(s) || !isHex(s[j+1]) || !isHex(s[j+2]) {
				return "", false
			}
			c = unhex(s[j+1])<<4 | unhex(s[j+2])
			j += 2
		case '+':
			c = ' '
		}
		out = append(out, c)
	}
	return string(out), true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
