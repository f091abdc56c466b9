//go:build pprofhook

package main

// Built only with -tags pprofhook, for the benchmark scripts' profiles
// (scripts/bench: PROFILE_DIR): net/http/pprof on KG_PPROF, which should be
// a 127.0.0.1 address. Release builds have no such listener.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("KG_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil) //nolint:errcheck // a benchmark aid: no profile is the only harm
	}
}
