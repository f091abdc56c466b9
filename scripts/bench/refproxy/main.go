// Command refproxy is the yardstick the benchmark's issue names: a minimal
// reverse proxy with a key map, built on httputil.ReverseProxy. The wrk
// script runs it beside nginx and keygate, so that each run shows what plain
// net/http reaches on the machine at hand.
//
//	refproxy -listen 127.0.0.1:9000 -upstream http://127.0.0.1:8080 -key KEY
package main

import (
	"crypto/subtle"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to serve on")
	upstream := flag.String("upstream", "", "upstream base URL")
	key := flag.String("key", "", "the one API key accepted in the apikey header")
	flag.Parse()
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" || *key == "" {
		log.Fatal("refproxy: -upstream URL and -key are required")
	}
	keys := map[string]string{*key: "bench"} // key → consumer
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Consumer-Username", pr.In.Header.Get("X-Consumer-Username"))
		},
		Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 1024},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented := r.Header.Get("apikey")
		consumer, ok := keys[presented]
		if !ok || subtle.ConstantTimeCompare([]byte(presented), []byte(*key)) != 1 {
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		r.Header.Set("X-Consumer-Username", consumer)
		proxy.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, handler))
}
