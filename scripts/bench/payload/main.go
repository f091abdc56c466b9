// Command payload prepares wrk runs of a route with payload encryption
// against a plain route (scripts/bench/payload.sh):
//
//	payload upstream -listen 127.0.0.1:PORT
//	payload setup -admin URL -token T -proxy URL -upstream URL -n 40000 -threads 2 -dir DIR
//
// upstream answers every request with its body. setup creates a service,
// a plain route (/plain) and a dynamic one (/sealed) with key-auth, a
// consumer and a key; starts one session per wrk thread; and writes to DIR
// the requests' 1 KiB body (plain.body), per thread n/threads envelopes of
// it with sequence numbers 1, 2, ... (sealed-<i>.env, fixed-size records),
// and the wrk scripts plain.lua and sealed.lua. wrk cannot seal (AES-GCM),
// and an envelope is accepted once, so a run must stop before a thread has
// used its envelopes: the answers after that are 401s (wrk's non-2xx).
// Only for 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/client"
	"github.com/keygate/keygate/sessioncrypto"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: payload upstream|setup [flags]")
	}
	switch os.Args[1] {
	case "upstream":
		fs := flag.NewFlagSet("upstream", flag.ExitOnError)
		listen := fs.String("listen", "127.0.0.1:0", "address")
		fs.Parse(os.Args[2:])
		loopback(*listen)
		log.Fatal(http.ListenAndServe(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body) // whole first: an HTTP/1 handler's writes may end its body's reads
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})))
	case "setup":
		setup(os.Args[2:])
	default:
		log.Fatalf("payload: unknown command %q", os.Args[1])
	}
}

func loopback(addr string) {
	host := addr
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		host = u.Host
	}
	if !strings.HasPrefix(host, "127.0.0.1:") {
		log.Fatalf("payload: %s is not on 127.0.0.1", addr)
	}
}

func setup(args []string) {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	admin := fs.String("admin", "", "admin API URL")
	token := fs.String("token", "", "admin token")
	proxy := fs.String("proxy", "", "gateway URL")
	upstream := fs.String("upstream", "", "upstream URL")
	n := fs.Int("n", 40000, "envelopes in all")
	threads := fs.Int("threads", 2, "wrk threads (one session each)")
	dir := fs.String("dir", ".", "output directory")
	fs.Parse(args)
	for _, u := range []string{*admin, *proxy, *upstream} {
		loopback(u)
	}
	ctx := context.Background()
	c := client.New(*admin, *token)
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	svc := keygate.NewService()
	svc.Name, svc.URL = "payload-bench", *upstream
	_, err := c.CreateService(ctx, svc)
	must(err)
	for _, mode := range []string{"", keygate.PayloadEncryptionDynamic} {
		r := keygate.NewRoute()
		r.Name, r.Service, r.KeyAuth, r.PayloadEncryption = "plain", keygate.Ref{Name: svc.Name}, keygate.NewKeyAuthConfig(), mode
		if mode != "" {
			r.Name = "sealed"
		}
		r.Paths = []string{"/" + r.Name}
		_, err := c.CreateRoute(ctx, r)
		must(err)
	}
	co := keygate.NewConsumer()
	co.Username = "payload-bench"
	_, err = c.CreateConsumer(ctx, co)
	must(err)
	key, err := c.CreateKey(ctx, co.Username, keygate.KeyRequest{})
	must(err)

	var body bytes.Buffer
	body.WriteString(`[`)
	for body.Len() < 1000 {
		body.WriteString(`{"k":"0123456789abcdef0123456789abcdef"},`)
	}
	b := append(bytes.TrimSuffix(body.Bytes(), []byte(",")), ']')
	must(os.WriteFile(filepath.Join(*dir, "plain.body"), b, 0o600))
	sessions := make([]string, *threads)
	for i := range *threads {
		s, err := client.StartSession(ctx, client.SessionOptions{Gateway: *proxy, Path: "/sealed", Lifetime: 86400e9,
			Authorize: func(r *http.Request) error { r.Header.Set("apikey", key.Key); return nil }})
		must(err)
		sessions[i] = s.ID
		var out bytes.Buffer
		for range *n / *threads {
			env, err := s.Key().SealRequest(nil, s.ID, s.NextSequence(), "POST", "/sealed", b)
			must(err)
			out.Write(env)
		}
		must(os.WriteFile(filepath.Join(*dir, fmt.Sprintf("sealed-%d.env", i+1)), out.Bytes(), 0o600))
	}
	plain := fmt.Sprintf(`local f = io.open(%q, "rb"); local body = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = body
wrk.headers["Content-Type"] = "application/json"; wrk.headers["apikey"] = %q
`, filepath.Join(*dir, "plain.body"), key.Key)
	sealed := fmt.Sprintf(`-- Each thread sends its session's envelopes in sequence order.
local sessions = {%s}
local size = %d
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args)
  local f = io.open(%q .. "/sealed-" .. id .. ".env", "rb"); envs = f:read("*a"); f:close()
  i = 0; n = #envs / size
  headers = {["Content-Type"] = %q, ["Keygate-Content-Type"] = "application/json", ["apikey"] = %q, ["Keygate-Session"] = sessions[id]}
end
function request()
  local k = i %% n; i = i + 1
  return wrk.format("POST", "/sealed", headers, envs:sub(k * size + 1, (k + 1) * size))
end
`, "\""+strings.Join(sessions, "\", \"")+"\"", len(b)+sessioncrypto.Overhead, *dir, sessioncrypto.EnvelopeMediaType, key.Key)
	must(os.WriteFile(filepath.Join(*dir, "plain.lua"), []byte(plain), 0o600))
	must(os.WriteFile(filepath.Join(*dir, "sealed.lua"), []byte(sealed), 0o600))
	fmt.Printf("%d envelopes of %d bytes per thread\n", *n / *threads, len(b)+sessioncrypto.Overhead)
}
