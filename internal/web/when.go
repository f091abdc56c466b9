package web

import "time"

// When shows a time on a page: UTC to the minute, "" for a zero time and
// "never" for a nil *time.Time (an expiry that never comes).
func When(t any) string {
	switch t := t.(type) {
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case *time.Time:
		if t == nil {
			return "never"
		}
		return When(*t)
	}
	return ""
}
