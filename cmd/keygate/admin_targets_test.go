package main

import (
	"testing"

	"github.com/keygate/keygate"
)

func TestParseTargetArg(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want keygate.UpstreamTarget
	}{
		{"http://a:8080", keygate.UpstreamTarget{URL: "http://a:8080", Weight: keygate.DefaultWeight}},
		{"http://a:8080/api=90", keygate.UpstreamTarget{URL: "http://a:8080/api", Weight: 90}},
		{"http://a:8080=10:green", keygate.UpstreamTarget{URL: "http://a:8080", Weight: 10, Color: "green"}},
		{"http://a:8080=0:blue", keygate.UpstreamTarget{URL: "http://a:8080", Weight: 0, Color: "blue"}},
		{"http://a/x=y", keygate.UpstreamTarget{URL: "http://a/x=y", Weight: keygate.DefaultWeight}}, // not a weight: all URL
	} {
		if got := parseTargetArg(tc.arg); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.arg, got, tc.want)
		}
	}
}
